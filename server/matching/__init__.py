"""The matching adapter: who should talk to whom. A local default, an HTTP back end, and an
inbound signed webhook through which an external matcher opens rooms for new pairs."""
