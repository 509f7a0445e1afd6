"""Where a bundle is deployed: a runtime directory on this machine, or on hosts over SSH."""
