"""The page's tabs, one module each, and the POST actions (revoke); web/routes.py
dispatches to them."""
