using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Kraft.Broker.Tests.RaftTransport;

/// <summary>Collects log lines in memory so a failing cluster test can print what the nodes did.</summary>
internal sealed class TestLog : ILogger
{
    private readonly string _name;
    private readonly ConcurrentQueue<string> _lines;

    public TestLog(string name, ConcurrentQueue<string> lines)
    {
        _name = name;
        _lines = lines;
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        _lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} [{_name}] {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }
}
