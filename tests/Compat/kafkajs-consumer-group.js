// Compatibility check with kafkajs 2.2.4: consumer groups against Kraft's group coordinator.
// Usage: node kafkajs-consumer-group.js BOOTSTRAP TOPIC GROUP MODE COUNT   (prints one JSON line; exit 1 on failure)
//   MODE first:  creates TOPIC (3 partitions, replication factor 3) if needed, produces COUNT values "first-i" with
//                acks=-1, and consumes them with TWO members of GROUP, committing each message after it is processed,
//                until every value has been seen; then both members leave.
//   MODE resume: produces COUNT values "second-i", then ONE member of GROUP consumes (subscribed fromBeginning, so only
//                the group's committed offsets keep older records out) until COUNT new values are seen, plus a quiet
//                period that would reveal re-read or duplicated records.
const { Kafka, logLevel } = require('kafkajs')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what)
    await sleep(100)
  }
}

async function main () {
  const [bootstrap, topic, groupId, mode, countText] = process.argv.slice(2)
  const count = parseInt(countText, 10)
  const prefix = mode === 'first' ? 'first' : 'second'
  const kafka = new Kafka({ clientId: 'kraft-compat-group', brokers: bootstrap.split(','), logLevel: logLevel.ERROR, retry: { retries: 12, initialRetryTime: 200 } })

  if (mode === 'first') {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true })
    await admin.disconnect()
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  for (let i = 0; i < count; i += 50) {
    const messages = []
    for (let j = i; j < Math.min(count, i + 50); j++) messages.push({ key: `key${j % 7}`, value: `${prefix}-${j}` })
    await producer.send({ topic, acks: -1, messages })
  }
  await producer.disconnect()

  const members = mode === 'first' ? 2 : 1
  const seen = new Map() // value -> times processed
  const positions = new Map() // "partition:offset" -> times processed (a re-read of the same record, not a producer resend)
  const assignments = []
  const consumers = []
  for (let m = 0; m < members; m++) {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000, retry: { retries: 12, initialRetryTime: 200 } })
    consumer.on(consumer.events.GROUP_JOIN, e => { assignments[m] = e.payload.memberAssignment[topic] || [] })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    consumers.push(consumer)
  }
  await Promise.all(consumers.map(consumer => consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      // Commit first, count after: when every value has been counted, every commit has been acknowledged.
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
      const value = message.value.toString()
      seen.set(value, (seen.get(value) || 0) + 1)
      const position = `${partition}:${message.offset}`
      positions.set(position, (positions.get(position) || 0) + 1)
    }
  })))

  const fresh = () => [...seen.keys()].filter(v => v.startsWith(prefix + '-')).length
  await waitFor(() => fresh() >= count, 60000, `${count} ${prefix} values (saw ${fresh()})`)
  if (mode === 'resume') await sleep(1500)
  await Promise.all(consumers.map(c => c.disconnect()))

  const values = [...seen.keys()]
  console.log(JSON.stringify({
    mode,
    distinct: values.filter(v => v.startsWith(prefix + '-')).length,
    old: values.filter(v => !v.startsWith(prefix + '-')).length,
    // Records read more than once by the group (consumer-side duplicates). Values stored twice by a producer
    // retry (kafkajs without idempotence, Kafka's at-least-once) are counted apart, as producerDuplicates.
    duplicates: [...positions.values()].filter(n => n > 1).length,
    producerDuplicates: [...seen.values()].filter(n => n > 1).length - [...positions.values()].filter(n => n > 1).length,
    assignments
  }))
}

main().catch(e => { console.error('kafkajs: ' + (e.stack || e)); process.exit(1) })
