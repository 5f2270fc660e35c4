#!/usr/bin/python3
"""Compatibility check with the Python clients Debian 12 ships (python3-kafka 2.0.2, python3-confluent-kafka 1.7.0).

Usage: python-clients.py CLIENT BOOTSTRAP TOPIC COUNT
  CLIENT is kafka-python or confluent-kafka. The script creates TOPIC (3 partitions, replication factor 3) with the
  client's admin API, produces COUNT values with acks=all, then consumes them back in a consumer group (committing
  offsets) until every value was seen or 60 s passed. The last line of stdout is a JSON summary; the exit code is 0
  when every value came back.
"""
import json
import sys
import time


def kafka_python(bootstrap, topic, count):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-kafka-python-admin", request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=3)], timeout_ms=30000)
        created = True
    except TopicAlreadyExistsError:
        created = False
    admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5, linger_ms=5)
    futures = [producer.send(topic, key=str(i).encode(), value=f"kafka-python-{i}".encode()) for i in range(count)]
    producer.flush(60)
    acknowledged = sum(1 for f in futures if f.succeeded())
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000, session_timeout_ms=10000)
    seen = []
    deadline = time.time() + 60
    while len(set(seen)) < count and time.time() < deadline:
        for message in consumer:
            seen.append(message.value.decode())
        consumer.commit()
    consumer.close()
    return created, acknowledged, seen


def confluent_kafka(bootstrap, topic, count):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)], request_timeout=30)[topic]
    try:
        future.result(30)
        created = True
    except Exception as e:  # TOPIC_ALREADY_EXISTS when re-run
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise
        created = False

    acknowledged = 0
    failures = []

    def delivered(err, _msg):
        nonlocal acknowledged
        if err is None:
            acknowledged += 1
        else:
            failures.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=str(i), value=f"confluent-kafka-{i}", on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    if failures:
        print(f"delivery failures: {failures[:5]}", file=sys.stderr)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-group", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 10000})
    consumer.subscribe([topic])
    seen = []
    deadline = time.time() + 60
    while len(set(seen)) < count and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            print(f"consumer error: {message.error()}", file=sys.stderr)
            continue
        seen.append(message.value().decode())
        if len(seen) % 100 == 0:
            commit(consumer)
    commit(consumer)
    consumer.close()
    return created, acknowledged, seen


def commit(consumer):
    """Synchronous commit of the consumed positions; "no offset stored" only means nothing new since the last one."""
    from confluent_kafka import KafkaError, KafkaException
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise


def main():
    client, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run = {"kafka-python": kafka_python, "confluent-kafka": confluent_kafka}[client]
    created, acknowledged, seen = run(bootstrap, topic, count)
    prefix = "kafka-python" if client == "kafka-python" else "confluent-kafka"
    expected = {f"{prefix}-{i}" for i in range(count)}
    missing = len(expected - set(seen))
    print(json.dumps({"client": client, "created": created, "acknowledged": acknowledged, "consumed": len(seen),
                      "distinct": len(set(seen) & expected), "missing": missing}))
    sys.exit(0 if missing == 0 and acknowledged == count else 1)


if __name__ == "__main__":
    main()
