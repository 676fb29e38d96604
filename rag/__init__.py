"""rag: answers questions over a folder of documents, with citations to file and paragraph.

Kept free of imports so ``rag --help`` starts fast; the pipeline modules load models and
stores only when a command needs them.
"""

__version__ = "0.1.0"
