// Compatibility check with kafkajs 2.2.4: the admin client creates a topic (forwarded to the active controller),
// the producer sends N keyed messages with acks=-1, and the admin lists the topic's offsets.
// Usage: node kafkajs-admin-produce.js BOOTSTRAP TOPIC COUNT [idempotent]   (prints one JSON line; exit 1 on failure)
// With "idempotent" the producer uses InitProducerId and sequence numbers (one request in flight, as kafkajs
// requires), and a short client request timeout so that slow acknowledgements are retried: the broker must
// recognise each retried batch, so the topic holds exactly COUNT records. The idempotent topic has one partition:
// kafkajs 2.2.4 keeps per-broker responses across the retries of one send and rolls back the sequences of every
// partition of a failed request, so with several partitions moving between brokers it can skip a partition's
// retry or reuse sequence numbers for new records (we saw 15 records missing and 35 extra in such runs), which no
// broker can repair. With one partition each retry carries exactly the records and sequences of the failed attempt.
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic, countText, mode] = process.argv.slice(2)
  const count = parseInt(countText, 10)
  const idempotent = mode === 'idempotent'
  const kafka = new Kafka({
    clientId: 'kraft-compat',
    brokers: bootstrap.split(','),
    logLevel: logLevel.ERROR,
    retry: { retries: idempotent ? 20 : 8, initialRetryTime: 50 },
    ...(idempotent ? { requestTimeout: 400 } : {})
  })
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: idempotent ? 1 : 3, replicationFactor: 3 }], waitForLeaders: true })
  const producer = kafka.producer(idempotent
    ? { allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 }
    : { allowAutoTopicCreation: false })
  await producer.connect()
  let acknowledged = 0
  for (let i = 0; i < count; i += 50) {
    const messages = []
    for (let j = i; j < Math.min(count, i + 50); j++) messages.push({ key: `key${j % 10}`, value: `kafkajs-${j}` })
    const result = await producer.send({ topic, acks: -1, messages })
    acknowledged += messages.length
    if (!result.every(r => r.errorCode === 0)) throw new Error('produce error ' + JSON.stringify(result))
  }
  const offsets = await admin.fetchTopicOffsets(topic)
  const total = offsets.reduce((sum, p) => sum + parseInt(p.high, 10) - parseInt(p.low, 10), 0)
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
  await producer.disconnect()
  await admin.disconnect()
  console.log(JSON.stringify({ created, acknowledged, total, partitions: metadata.topics[0].partitions.length }))
}

main().catch(e => { console.error('kafkajs: ' + (e.stack || e)); process.exit(1) })
