"""Tenant datasets (customers, policies, orders…) that agents look up for the contact who is writing."""
