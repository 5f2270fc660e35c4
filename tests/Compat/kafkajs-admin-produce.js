// Compatibility check with kafkajs 2.2.4: the admin client creates a topic (forwarded to the active controller),
// the producer sends N keyed messages with acks=-1, and the admin lists the topic's offsets.
// Usage: node kafkajs-admin-produce.js BOOTSTRAP TOPIC COUNT   (prints one JSON line; exit 1 on failure)
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic, countText] = process.argv.slice(2)
  const count = parseInt(countText, 10)
  const kafka = new Kafka({ clientId: 'kraft-compat', brokers: bootstrap.split(','), logLevel: logLevel.ERROR, retry: { retries: 8 } })
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
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
