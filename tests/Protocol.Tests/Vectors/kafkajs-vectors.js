// Regenerates the request vectors in KafkajsVectorTests.cs from kafkajs 2.2.4, an independent implementation.
//   mkdir /tmp/kv && cd /tmp/kv && npm init -y && npm install kafkajs@2.2.4
//   node /path/to/kafkajs-vectors.js > vectors.json
// Each vector is one request body (kafkajs adds the header itself). For the two flexible APIs kafkajs writes the
// header's empty tagged-field section at the front of the body, so that byte is stripped here.
const R = p => require('kafkajs/src/protocol/requests/' + p + '/request')
const vectors = []
async function add(api, version, path, args, stripHeaderTags = false) {
  const req = R(path)(args)
  if (req.apiVersion !== version) throw new Error(path + ' version ' + req.apiVersion)
  const enc = await req.encode()
  let buf = enc.buffer
  if (stripHeaderTags) buf = buf.slice(1)
  vectors.push({ api, version, hex: buf.toString('hex') })
}
;(async () => {
  for (const v of [0, 1, 2]) await add('ApiVersions', v, `apiVersions/v${v}`, {})
  await add('Metadata', 0, 'metadata/v0', { topics: ['a', 'bc'] })
  for (const v of [1, 2, 3]) await add('Metadata', v, `metadata/v${v}`, { topics: ['a', 'bc'] })
  for (const v of [4, 5, 6]) await add('Metadata', v, `metadata/v${v}`, { topics: ['t'], allowAutoTopicCreation: false })
  const fetchTopics = [{ topic: 'orders', partitions: [{ partition: 2, currentLeaderEpoch: 7, fetchOffset: '1234567', logStartOffset: '5', maxBytes: 1048576 }] }]
  for (const v of [4, 5, 6, 7, 8, 9, 10, 11]) await add('Fetch', v, `fetch/v${v}`, { replicaId: -1, maxWaitTime: 500, minBytes: 1, maxBytes: 52428800, isolationLevel: 1, topics: fetchTopics, rackId: 'r1', sessionId: 0, sessionEpoch: -1 })
  const loTopics = [{ topic: 't', partitions: [{ partition: 0, timestamp: '-1' }, { partition: 1, timestamp: '1600000000000' }] }]
  for (const v of [1, 2, 3]) await add('ListOffsets', v, `listOffsets/v${v}`, { replicaId: -1, isolationLevel: 1, topics: loTopics })
  await add('FindCoordinator', 0, 'findCoordinator/v0', { groupId: 'grp' })
  for (const v of [1, 2]) await add('FindCoordinator', v, `findCoordinator/v${v}`, { coordinatorKey: 'grp', coordinatorType: 1 })
  const ocTopics = [{ topic: 't', partitions: [{ partition: 0, offset: '42', metadata: null }, { partition: 1, offset: '43', metadata: 'm' }] }]
  for (const v of [2, 3, 4]) await add('OffsetCommit', v, `offsetCommit/v${v}`, { groupId: 'g', groupGenerationId: 3, memberId: 'mem', retentionTime: -1, topics: ocTopics })
  await add('OffsetCommit', 5, 'offsetCommit/v5', { groupId: 'g', groupGenerationId: 3, memberId: 'mem', topics: ocTopics })
  const ofTopics = [{ topic: 't', partitions: [{ partition: 0 }, { partition: 3 }] }]
  for (const v of [1, 2, 3, 4]) await add('OffsetFetch', v, `offsetFetch/v${v}`, { groupId: 'g', topics: ofTopics })
  const protocols = [{ name: 'range', metadata: Buffer.from([0, 1, 2, 3]) }]
  await add('JoinGroup', 0, 'joinGroup/v0', { groupId: 'g', sessionTimeout: 30000, memberId: '', protocolType: 'consumer', groupProtocols: protocols })
  for (const v of [1, 2, 3, 4]) await add('JoinGroup', v, `joinGroup/v${v}`, { groupId: 'g', sessionTimeout: 30000, rebalanceTimeout: 60000, memberId: '', protocolType: 'consumer', groupProtocols: protocols })
  await add('JoinGroup', 5, 'joinGroup/v5', { groupId: 'g', sessionTimeout: 30000, rebalanceTimeout: 60000, memberId: 'm', groupInstanceId: 'inst', protocolType: 'consumer', groupProtocols: protocols })
  const assignment = [{ memberId: 'm', memberAssignment: Buffer.from([9, 8, 7]) }]
  for (const v of [0, 1, 2]) await add('SyncGroup', v, `syncGroup/v${v}`, { groupId: 'g', generationId: 4, memberId: 'm', groupAssignment: assignment })
  await add('SyncGroup', 3, 'syncGroup/v3', { groupId: 'g', generationId: 4, memberId: 'm', groupInstanceId: null, groupAssignment: assignment })
  for (const v of [0, 1, 2]) await add('Heartbeat', v, `heartbeat/v${v}`, { groupId: 'g', groupGenerationId: 4, memberId: 'm' })
  await add('Heartbeat', 3, 'heartbeat/v3', { groupId: 'g', groupGenerationId: 4, memberId: 'm', groupInstanceId: 'i' })
  for (const v of [0, 1, 2]) await add('LeaveGroup', v, `leaveGroup/v${v}`, { groupId: 'g', memberId: 'm' })
  await add('LeaveGroup', 3, 'leaveGroup/v3', { groupId: 'g', members: [{ memberId: 'm', groupInstanceId: null }, { memberId: 'n', groupInstanceId: 'x' }] })
  for (const v of [0, 1, 2]) await add('ListGroups', v, `listGroups/v${v}`, {})
  for (const v of [0, 1, 2]) await add('DescribeGroups', v, `describeGroups/v${v}`, { groupIds: ['g1', 'g2'] })
  const ctTopics = [{ topic: 'new', numPartitions: 3, replicationFactor: 2, replicaAssignment: [{ partition: 0, replicas: [1, 2] }], configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }]
  await add('CreateTopics', 0, 'createTopics/v0', { topics: ctTopics, timeout: 5000 })
  for (const v of [1, 2, 3]) await add('CreateTopics', v, `createTopics/v${v}`, { topics: ctTopics, timeout: 5000, validateOnly: true })
  for (const v of [0, 1]) await add('DeleteTopics', v, `deleteTopics/v${v}`, { topics: ['a', 'b'], timeout: 5000 })
  for (const v of [0, 1]) await add('InitProducerId', v, `initProducerId/v${v}`, { transactionalId: 'tx', transactionTimeout: 60000 })
  const resources = [{ type: 2, name: 't', configNames: ['retention.ms'] }, { type: 4, name: '1', configNames: [] }]
  await add('DescribeConfigs', 0, 'describeConfigs/v0', { resources })
  for (const v of [1, 2]) await add('DescribeConfigs', v, `describeConfigs/v${v}`, { resources, includeSynonyms: true })
  const tps = [{ topic: 't', count: 5, assignments: [[1, 2], [2, 3]] }, { topic: 'u', count: 2 }]
  for (const v of [0, 1]) await add('CreatePartitions', v, `createPartitions/v${v}`, { topicPartitions: tps, validateOnly: false, timeout: 5000 })
  await add('AlterPartitionReassignments', 0, 'alterPartitionReassignments/v0', { topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [3, 1, 2] }] }], timeout: 5000 }, true)
  await add('ListPartitionReassignments', 0, 'listPartitionReassignments/v0', { topics: [{ topic: 't', partitions: [0, 1] }], timeout: 5000 }, true)
  await add('ListPartitionReassignments', 0, 'listPartitionReassignments/v0', { topics: null, timeout: 5000 }, true)
  const topicData = [{ topic: 'orders', partitions: [{ partition: 1, firstSequence: 0, messages: [{ key: 'k', value: 'v', timestamp: 1600000000000 }] }] }]
  for (const v of [3, 4, 5, 6, 7]) await add('Produce', v, `produce/v${v}`, { acks: -1, timeout: 30000, transactionalId: null, producerId: -1, producerEpoch: 0, compression: 0, topicData })
  console.log(JSON.stringify(vectors))
})().catch(e => { console.error(e); process.exit(1) })
