"""Load generators for the ShelfWatch farm: ``loadtest.farm`` and ``loadtest.fixed_rate``.

Both talk to the public HTTP API only (never to Postgres, Redis or S3 directly), through
``ops.client.Client``, so what they measure is what a client sees. ``shelfwatch-dev
bench`` builds its farm figures on ``loadtest.farm``.
"""
