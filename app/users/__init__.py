"""Users: accounts (User, Profile), their memberships in tenants (Membership, Role), statuses, the user loader.

No blueprint yet: the users capability will add its pages and API here.
"""
