namespace Kraft.Broker.Replication;

/// <summary>
/// A broadcast "something changed" signal for long-poll waiters (fetches waiting for data or a higher high
/// watermark). <see cref="Notify"/> wakes every current waiter; waiters re-check their condition and wait again.
/// Thread-safe and allocation-light: one TaskCompletionSource per notification cycle.
/// </summary>
public sealed class ChangeSignal
{
    private TaskCompletionSource _current = NewSource();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A task that completes at the next notification.</summary>
    public Task NextAsync() => Volatile.Read(ref _current).Task;

    public void Notify() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();
}
