"""Deploys: resource addresses, desired state, state files, plans, apply, and targets."""
