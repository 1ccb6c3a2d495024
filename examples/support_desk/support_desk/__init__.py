"""Support desk backend: tickets in, answers out."""
