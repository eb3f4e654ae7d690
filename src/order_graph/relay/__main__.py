"""`python -m order_graph.relay`: the same as `order-graph relay`."""

from __future__ import annotations

import sys

from order_graph.relay.main import main

sys.exit(main())
