"""Efficient attention, token reduction and step caching: tensors in, tensors out (torch only)."""
