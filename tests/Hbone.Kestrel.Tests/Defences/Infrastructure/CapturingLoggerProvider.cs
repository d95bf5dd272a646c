using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Tests.Defences.Infrastructure;

/// <summary>One log line as the server wrote it, with the time since the provider was created.</summary>
internal sealed record CapturedLog(TimeSpan At, string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    public override string ToString() => $"{At.TotalMilliseconds:F0} ms {Level} {Category}[{EventId.Id}:{EventId.Name}] {Message}";
}

/// <summary>Captures every log line of the server under test (from <see cref="LogLevel.Information"/> up).</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _lines = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public IReadOnlyList<CapturedLog> Lines => [.. _lines];

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Lines whose event name is <paramref name="eventName"/>.</summary>
    public List<CapturedLog> WithEvent(string eventName) => [.. _lines.Where(l => l.EventId.Name == eventName)];

    /// <summary>Polls (every 50 ms, bounded by <paramref name="timeout"/>) until <paramref name="condition"/> holds.</summary>
    public async Task<bool> WaitForAsync(Func<IReadOnlyList<CapturedLog>, bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (condition(Lines))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return condition(Lines);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._lines.Enqueue(new CapturedLog(owner._clock.Elapsed, category, logLevel, eventId, formatter(state, exception), exception));
            }
        }
    }
}
