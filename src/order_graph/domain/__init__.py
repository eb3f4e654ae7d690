"""The pure domain: orders, money, the status machine and the errors they raise.

Nothing in this package imports a framework, a database driver or the network.
"""
