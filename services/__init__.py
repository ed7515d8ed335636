"""The four services. None imports another: they meet only through HTTP and Kafka topics."""
