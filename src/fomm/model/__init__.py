"""The First Order Motion Model networks (torch only) and checkpoint loading."""
