"""Targeting: the lever catalog (promotions, campaigns, price lists, placements, account
portals), money, pricing and placements (TARGETING.md). Every module here is pure: no
I/O; the store, the audience index and the use cases live in their own layers
(docs/architecture.md)."""
