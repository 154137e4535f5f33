"""Token Sweeper: find and revoke stale WHM API tokens by policy, safely."""

__version__ = "0.1.0"
