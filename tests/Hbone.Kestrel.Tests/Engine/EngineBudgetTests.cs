using System.Diagnostics;
using System.Text;
using Hbone.Kestrel.Http2;

namespace Hbone.Kestrel.Tests.Engine;

/// <summary>The engine's abuse budgets and header rules, without a connection.</summary>
public sealed class EngineBudgetTests
{
    private static readonly long Second = Stopwatch.Frequency;

    [Fact]
    [Trait("case", "H2-01")]
    public void H2_01_rapid_reset_budget_lets_the_first_200_pass_then_allows_100_per_10_seconds()
    {
        var budget = new AbuseBudget(100, TimeSpan.FromSeconds(10), freeAllowance: 200);
        for (var i = 0; i < 200; i++)
        {
            Assert.True(budget.TryCharge(0), $"reset {i + 1} is within the free allowance");
        }

        // All 200 fell in the window that started at 0; the 201st is over the window's 100.
        Assert.False(budget.TryCharge(0));

        // A new window: 100 pass, the 101st does not.
        var later = 11 * Second;
        for (var i = 0; i < 100; i++)
        {
            Assert.True(budget.TryCharge(later));
        }

        Assert.False(budget.TryCharge(later));
    }

    [Fact]
    [Trait("case", "H2-08")]
    public void H2_08_control_flood_budget_is_1000_per_10_seconds()
    {
        var budget = new AbuseBudget(1000, TimeSpan.FromSeconds(10));
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(budget.TryCharge(i * Second / 200));
        }

        Assert.False(budget.TryCharge(5 * Second));
        Assert.True(budget.TryCharge(16 * Second));
    }

    public static TheoryData<string, string, string> Malformed() => new()
    {
        { "X-Upper", "1", "invalid character in a field name" },
        { "connection", "close", "connection-specific field" },
        { "keep-alive", "1", "connection-specific field" },
        { "proxy-connection", "1", "connection-specific field" },
        { "transfer-encoding", "chunked", "connection-specific field" },
        { "upgrade", "h2c", "connection-specific field" },
        { "te", "gzip", "connection-specific field" },
        { "x-a", "a\rb", "CR, LF or NUL in a field value" },
        { "x-a", "a\nb", "CR, LF or NUL in a field value" },
        { "x-a", "a\0b", "CR, LF or NUL in a field value" },
        { ":status", "200", "unknown or response pseudo-field" },
        { ":foo", "bar", "unknown or response pseudo-field" },
        { ":method", "CONNECT", "duplicate pseudo-field" },
    };

    [Theory]
    [Trait("case", "H2-20")]
    [MemberData(nameof(Malformed))]
    public void H2_20_validator_flags_malformed_fields_and_keeps_none(string name, string value, string rule)
    {
        var validator = new RequestHeaderValidator();
        validator.Reset();
        Feed(validator, ":method", "CONNECT");
        Feed(validator, ":authority", "10.0.0.1:80");
        Feed(validator, name, value);

        Assert.Equal(rule, validator.Malformed);
    }

    [Fact]
    [Trait("case", "H2-20")]
    public void H2_20_pseudo_field_after_a_regular_one_is_malformed_and_te_trailers_is_not()
    {
        var validator = new RequestHeaderValidator();
        validator.Reset();
        Feed(validator, ":method", "CONNECT");
        Feed(validator, "te", "trailers");
        Assert.Null(validator.Malformed);
        Feed(validator, ":authority", "10.0.0.1:80");
        Assert.Equal("pseudo-field after a regular field", validator.Malformed);
    }

    [Fact]
    public void Validator_keeps_regular_fields_in_order_and_the_pseudo_fields_apart()
    {
        var validator = new RequestHeaderValidator();
        validator.Reset();
        Feed(validator, ":method", "CONNECT");
        Feed(validator, ":authority", "10.0.0.1:80");
        Feed(validator, "baggage", "k=v");
        Feed(validator, "x-forwarded-network", "net");

        Assert.Null(validator.Malformed);
        Assert.Equal("CONNECT", validator.Method);
        Assert.Equal("10.0.0.1:80", validator.Authority);
        Assert.Equal([new("baggage", "k=v"), new("x-forwarded-network", "net")], validator.TakeFields());
    }

    private static void Feed(RequestHeaderValidator validator, string name, string value) =>
        validator.OnHeader(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value));
}

/// <summary>The connection-error log's global rate limit.</summary>
public sealed class ProtocolErrorLogTests
{
    [Fact]
    public void At_most_10_lines_per_second_and_the_next_line_counts_the_suppressed()
    {
        var limiter = new LogRateLimiter();
        var logger = new CapturingLogger();
        for (var i = 0; i < 15; i++)
        {
            ProtocolErrorLog.ConnectionError(logger, limiter, 0, null, Hbone.Http2.Http2ErrorCode.ProtocolError, "bad");
        }

        Assert.Equal(10, logger.Lines.Count);
        ProtocolErrorLog.ConnectionError(logger, limiter, System.Diagnostics.Stopwatch.Frequency, null, Hbone.Http2.Http2ErrorCode.EnhanceYourCalm, "flood");
        Assert.Equal(11, logger.Lines.Count);
        var last = logger.Lines[^1];
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, last.Level);
        Assert.Equal("Http2ConnectionError", last.Event.Name);
        Assert.Contains("EnhanceYourCalm", last.Message, StringComparison.Ordinal);
        Assert.Contains("(5 suppressed)", last.Message, StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<(Microsoft.Extensions.Logging.LogLevel Level, Microsoft.Extensions.Logging.EventId Event, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId, formatter(state, exception)));
    }
}
