"""Optional adapters to other frameworks; each imports its framework only when used.

``from memory.integrations.llama_index import MemoryRetriever, MemoryPropertyGraphStore``
needs the extra ``pip install "memory[llama-index]"``.
"""
