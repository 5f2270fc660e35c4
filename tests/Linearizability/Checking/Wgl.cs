using System.Diagnostics;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Checking;

/// <summary>A model's sequential step: is op <paramref name="op"/> legal in <paramref name="state"/>, and what follows.</summary>
public delegate bool StepFunction<TState>(TState state, int op, out TState next);

/// <summary>How one partition's search ended.</summary>
public enum SearchOutcome
{
    Linearizable,
    NotLinearizable,
    TimedOut,
}

/// <summary>
/// The raw result of one WGL search over a partition. Op numbers are indexes into the partition's op list.
/// Immutable.
/// </summary>
public sealed record SearchResult(
    SearchOutcome Outcome,
    IReadOnlyList<int> Linearization,
    long Steps,
    int CacheSize);

/// <summary>
/// The Wing–Gong/Lowe linearizability search with memoization on (linearized-set, state), as in
/// Lowe's "Testing for linearizability" (2017) and Porcupine.
///
/// Role: decide whether a set of timed operations has a legal sequential order for a model.
/// Invariants: the entry list holds a call entry for every op not yet linearized and a return entry for
/// every definite (must-happen) op not yet linearized, in real-time order; ops with an unknown outcome
/// have no return entry, which is how their response at +infinity is modelled, and the search succeeds
/// as soon as every definite op is placed, which is how "or never" is modelled.
/// Owning thread: a search instance is used by one thread; the class holds no shared state.
/// </summary>
public static class Wgl
{
    /// <summary>The search gives up (verdict unknown) when its configuration cache would exceed this.</summary>
    public const long MaxCacheBytes = 2L << 30;

    /// <summary>Searches; <paramref name="deadline"/> bounds wall-clock time, after which the result is TimedOut.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static SearchResult Search<TState>(
        IReadOnlyList<Operation> ops,
        TState initial,
        StepFunction<TState> step,
        IEqualityComparer<TState>? comparer,
        IReadOnlyList<bool>? readOnly,
        IReadOnlyList<int>? effectClass,
        Stopwatch clock,
        TimeSpan deadline,
        CancellationToken cancellation)
        where TState : notnull
    {
        comparer ??= EqualityComparer<TState>.Default;
        var n = ops.Count;
        if (n == 0)
        {
            return new SearchResult(SearchOutcome.Linearizable, [], 0, 0);
        }

        // Build the entry list: 2 entries per definite op, 1 per optional op, plus a head sentinel.
        var times = new List<(int Time, int Kind, int Op)>(2 * n);
        var definite = 0;
        for (var i = 0; i < n; i++)
        {
            times.Add((ops[i].Call, 0, i));
            if (ops[i].Status != OpStatus.Unknown)
            {
                times.Add((ops[i].Return, 1, i));
                definite++;
            }
        }

        // Calls sort before returns at the same instant, which is the lenient (concurrent) reading.
        times.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Kind.CompareTo(b.Kind));
        var m = times.Count;
        var head = m;
        var next = new int[m + 1];
        var prev = new int[m + 1];
        var entryOp = new int[m];
        var isCall = new bool[m];
        var match = new int[m];
        var callEntryOf = new int[n];
        Array.Fill(match, -1);
        var returnEntryOf = new int[n];
        Array.Fill(returnEntryOf, -1);
        for (var e = 0; e < m; e++)
        {
            entryOp[e] = times[e].Op;
            isCall[e] = times[e].Kind == 0;
            if (isCall[e])
            {
                callEntryOf[times[e].Op] = e;
            }
            else
            {
                returnEntryOf[times[e].Op] = e;
            }
        }

        for (var i = 0; i < n; i++)
        {
            match[callEntryOf[i]] = returnEntryOf[i];
        }

        prev[0] = head;
        next[head] = 0;
        for (var e = 0; e < m; e++)
        {
            next[e] = e + 1 == m ? -1 : e + 1;
            if (e > 0)
            {
                prev[e] = e - 1;
            }
        }

        prev[head] = m - 1;

        var optional = new bool[n];
        for (var i = 0; i < n; i++)
        {
            optional[i] = ops[i].Status == OpStatus.Unknown;
        }

        // Symmetry: two unknown-outcome ops with the same effect are interchangeable once both are called,
        // so the search only ever uses them in call order (a solution using the later one can use the
        // earlier one in its place). twin[i] is the previous such op, or -1.
        var twin = new int[n];
        Array.Fill(twin, -1);
        if (effectClass is not null)
        {
            var lastOfClass = new Dictionary<int, int>();
            foreach (var i in Enumerable.Range(0, n).Where(i => optional[i]).OrderBy(i => ops[i].Call))
            {
                if (lastOfClass.TryGetValue(effectClass[i], out var previous))
                {
                    twin[i] = previous;
                }

                lastOfClass[effectClass[i]] = i;
            }
        }

        // Zobrist hashing makes the linearized-set hash incremental.
        var zobrist = new ulong[n];
        var rng = new Random(0x5eed);
        for (var i = 0; i < n; i++)
        {
            zobrist[i] = (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1);
        }

        var words = (n + 63) / 64;
        var bits = new ulong[words];
        ulong bitsHash = 0;
        var cache = new ConfigurationCache<TState>(words, comparer);
        var stackEntry = new int[n];
        var stackState = new TState[n];
        var stackGreedy = new bool[n];
        var depth = 0;
        var remaining = definite;
        var state = initial;
        var best = Array.Empty<int>();
        var entry = next[head];
        long steps = 0;

        while (remaining > 0)
        {
            // Every 4096 steps: out of time, cancelled, or the cache above its memory bound (a search that
            // large would not finish in any useful time, and it must not take the machine down with it).
            if ((++steps & 0xFFF) == 0 &&
                (clock.Elapsed > deadline || cancellation.IsCancellationRequested || (long)cache.Count * (words + 4) * sizeof(ulong) > MaxCacheBytes))
            {
                return new SearchResult(SearchOutcome.TimedOut, best, steps, cache.Count);
            }

            if (entry < 0)
            {
                throw new InvalidOperationException("WGL invariant broken: a definite op's return entry must precede the end of the list");
            }

            if (isCall[entry])
            {
                var op = entryOp[entry];
                var t = twin[op];
                if ((t < 0 || (bits[t >> 6] & (1UL << (t & 63))) != 0) && step(state, op, out var nextState))
                {
                    bits[op >> 6] |= 1UL << (op & 63);
                    var newHash = bitsHash ^ zobrist[op];
                    if (cache.TryAdd(bits, newHash, nextState))
                    {
                        stackEntry[depth] = entry;
                        stackState[depth] = state;
                        stackGreedy[depth] = readOnly is not null && readOnly[op];
                        depth++;
                        state = nextState;
                        bitsHash = newHash;
                        Lift(entry, match, next, prev);
                        if (!optional[op])
                        {
                            remaining--;
                        }

                        if (depth > best.Length)
                        {
                            best = new int[depth];
                            for (var i = 0; i < depth; i++)
                            {
                                best[i] = entryOp[stackEntry[i]];
                            }
                        }

                        entry = next[head];
                        continue;
                    }

                    bits[op >> 6] &= ~(1UL << (op & 63));
                }

                entry = next[entry];
            }
            else
            {
                // A return entry: its op must already be linearized by now, and it is not. Backtrack.
                // A read-only op (one that never changes any state it is legal in) that was legal right after
                // a prefix can be moved to the front of any linearization extending that prefix: it sees
                // the same state there, removing it from its later place changes no state, and every op
                // that must precede it is already in the prefix (it was a candidate, so no pending return
                // comes before its call). So when the subtree after such an op failed, the prefix before
                // it fails too: keep popping. (Lowe 2017 uses a similar rule for reads.)
                int e;
                do
                {
                    if (depth == 0)
                    {
                        return new SearchResult(SearchOutcome.NotLinearizable, best, steps, cache.Count);
                    }

                    depth--;
                    e = stackEntry[depth];
                    var op = entryOp[e];
                    state = stackState[depth];
                    stackState[depth] = default!;
                    bits[op >> 6] &= ~(1UL << (op & 63));
                    bitsHash ^= zobrist[op];
                    Unlift(e, match, next, prev);
                    if (!optional[op])
                    {
                        remaining++;
                    }
                }
                while (stackGreedy[depth]);

                entry = next[e];
            }
        }

        var order = new int[depth];
        for (var i = 0; i < depth; i++)
        {
            order[i] = entryOp[stackEntry[i]];
        }

        return new SearchResult(SearchOutcome.Linearizable, order, steps, cache.Count);
    }

    private static void Lift(int e, int[] match, int[] next, int[] prev)
    {
        Remove(e, next, prev);
        if (match[e] >= 0)
        {
            Remove(match[e], next, prev);
        }
    }

    private static void Unlift(int e, int[] match, int[] next, int[] prev)
    {
        if (match[e] >= 0)
        {
            Reinsert(match[e], next, prev);
        }

        Reinsert(e, next, prev);
    }

    // Dancing-links removal: the removed node keeps its own pointers so that it can be put back.
    private static void Remove(int e, int[] next, int[] prev)
    {
        next[prev[e]] = next[e];
        if (next[e] >= 0)
        {
            prev[next[e]] = prev[e];
        }
    }

    private static void Reinsert(int e, int[] next, int[] prev)
    {
        next[prev[e]] = e;
        if (next[e] >= 0)
        {
            prev[next[e]] = e;
        }
    }

}

/// <summary>
/// The set of visited configurations (linearized-set bitset, model state) of one search.
/// Role: WGL memoization; a configuration seen before cannot lead anywhere new.
/// Invariants: open addressing with linear probing, load factor at most 1/2, a stored hash is never 0.
/// Owned by the thread running the search.
/// </summary>
internal sealed class ConfigurationCache<TState>
    where TState : notnull
{
    private readonly int words;
    private readonly IEqualityComparer<TState> comparer;
    private Slot[] table;
    private ulong[] bitsPool;
    private TState[] states;
    private int mask;

    public ConfigurationCache(int words, IEqualityComparer<TState> comparer)
    {
        this.words = words;
        this.comparer = comparer;
        table = new Slot[1024];
        mask = 1023;
        bitsPool = new ulong[512 * words];
        states = new TState[512];
    }

    public int Count { get; private set; }

    /// <summary>Adds the configuration; false when it was already present.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public bool TryAdd(ulong[] bits, ulong bitsHash, TState state)
    {
        var h = Mix(bitsHash ^ ((ulong)(uint)comparer.GetHashCode(state) * 0x9E3779B97F4A7C15UL));
        var i = (int)h & mask;
        while (true)
        {
            // The hash and the entry share one slot so that a probe touches one cache line.
            ref var slot = ref table[i];
            if (slot.Hash == 0)
            {
                break;
            }

            if (slot.Hash == h)
            {
                var e = slot.Entry;
                if (bitsPool.AsSpan(e * words, words).SequenceEqual(bits) && comparer.Equals(states[e], state))
                {
                    return false;
                }
            }

            i = (i + 1) & mask;
        }

        var entry = Count++;
        if (entry == states.Length)
        {
            Array.Resize(ref states, states.Length * 2);
            Array.Resize(ref bitsPool, bitsPool.Length * 2);
        }

        bits.AsSpan().CopyTo(bitsPool.AsSpan(entry * words, words));
        states[entry] = state;
        table[i] = new Slot(h, entry);
        if (Count * 2 > table.Length)
        {
            Grow();
        }

        return true;
    }

    private void Grow()
    {
        var old = table;
        table = new Slot[old.Length * 2];
        mask = table.Length - 1;
        foreach (var slot in old)
        {
            if (slot.Hash == 0)
            {
                continue;
            }

            var i = (int)slot.Hash & mask;
            while (table[i].Hash != 0)
            {
                i = (i + 1) & mask;
            }

            table[i] = slot;
        }
    }

    private readonly record struct Slot(ulong Hash, int Entry);

    private static ulong Mix(ulong x)
    {
        // splitmix64 finalizer; the result is never 0 so that 0 can mark an empty slot.
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return x == 0 ? 1 : x;
    }
}
