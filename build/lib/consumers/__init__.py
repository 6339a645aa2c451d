"""Kafka in: the message codec, the intake transaction and the consumer loop."""
