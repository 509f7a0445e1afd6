"""The language server for .ivr files and the manifests (`ccc lsp`): server.py speaks LSP
through pygls, index.py answers what a name is, where it is declared and used."""
