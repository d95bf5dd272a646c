using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>Sums the long counters of one meter per tag set and writes them in the Prometheus text format 0.0.4.</summary>
/// <remarks>Tags are sorted by name, so the same set in another order is the same series.</remarks>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of <see cref="Render"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, InstrumentState> _instruments = new(StringComparer.Ordinal);

    /// <summary>Listens to the counters of exactly this meter instance (other meters with the same name are ignored).</summary>
    public PrometheusExporter(Meter meter)
        : this(instrument => ReferenceEquals(instrument.Meter, meter))
    {
        ArgumentNullException.ThrowIfNull(meter);
    }

    /// <summary>Listens to the counters of every meter named <paramref name="meterName"/>.</summary>
    public PrometheusExporter(string meterName = ZtunnelMetrics.MeterName)
        : this(instrument => string.Equals(instrument.Meter.Name, meterName, StringComparison.Ordinal))
    {
        ArgumentException.ThrowIfNullOrEmpty(meterName);
    }

    private PrometheusExporter(Func<Instrument, bool> accept)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument is Counter<long> && accept(instrument))
            {
                string name = SanitizeName(instrument.Name);
                InstrumentState state = _instruments.GetOrAdd(name, static (n, d) => new InstrumentState(n, d), instrument.Description);
                listener.EnableMeasurementEvents(instrument, state);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Add(value, tags));
        _listener.Start();
    }

    /// <summary>Writes every counter: <c># HELP</c>, <c># TYPE</c>, then one line per series, sorted; lines end in <c>\n</c>.</summary>
    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        InstrumentState[] instruments = [.. _instruments.Values];
        Array.Sort(instruments, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (InstrumentState instrument in instruments)
        {
            writer.Write("# HELP ");
            writer.Write(instrument.Name);
            writer.Write(' ');
            writer.Write(EscapeHelp(instrument.Help));
            writer.Write("\n# TYPE ");
            writer.Write(instrument.Name);
            writer.Write(" counter\n");

            KeyValuePair<string, Series>[] series = [.. instrument.Series];
            Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            foreach ((string labels, Series s) in series)
            {
                writer.Write(instrument.Name);
                if (labels.Length > 0)
                {
                    writer.Write('{');
                    writer.Write(labels);
                    writer.Write('}');
                }

                writer.Write(' ');
                writer.Write(Volatile.Read(ref s.Value).ToString(CultureInfo.InvariantCulture));
                writer.Write('\n');
            }
        }
    }

    /// <summary>The exposition as one string (see <see cref="WriteTo"/>).</summary>
    public string Render()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        WriteTo(writer);
        return writer.ToString();
    }

    /// <summary>Stops listening; the sums gathered so far stay readable.</summary>
    public void Dispose() => _listener.Dispose();

    /// <summary>A metric or label name with every character outside <c>[a-zA-Z0-9_]</c> replaced by <c>_</c>.</summary>
    internal static string SanitizeName(string name)
    {
        if (name.Length > 0 && !char.IsAsciiDigit(name[0]) && IsValidName(name))
        {
            return name;
        }

        var sb = new StringBuilder(name.Length + 1);
        AppendName(sb, name);
        return sb.ToString();
    }

    private static string EscapeHelp(string help) =>
        help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static bool IsValidName(string name)
    {
        foreach (char c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    private static void AppendName(StringBuilder sb, string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            sb.Append('_');
        }

        foreach (char c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }
    }

    private static void AppendLabelValue(StringBuilder sb, string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    private sealed class Series
    {
        public long Value;
    }

    private sealed class InstrumentState(string name, string? description)
    {
        [ThreadStatic] private static StringBuilder? t_key;
        [ThreadStatic] private static KeyValuePair<string, object?>[]? t_sorted;

        private readonly ConcurrentDictionary<string, Series>.AlternateLookup<ReadOnlySpan<char>> _lookup =
            new ConcurrentDictionary<string, Series>(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

        public string Name { get; } = name;

        public string Help { get; } = string.IsNullOrEmpty(description) ? name : description;

        public ConcurrentDictionary<string, Series> Series => _lookup.Dictionary;

        public void Add(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            StringBuilder key = BuildKey(tags);
            Series series = LookUp(key);
            Interlocked.Add(ref series.Value, value);
        }

        private Series LookUp(StringBuilder key)
        {
            // A hit (the usual case) allocates nothing: the key is looked up as a span of the reused builder.
            StringBuilder.ChunkEnumerator chunks = key.GetChunks();
            if (chunks.MoveNext() && chunks.Current.Length == key.Length && _lookup.TryGetValue(chunks.Current.Span, out Series? found))
            {
                return found;
            }

            return _lookup.Dictionary.GetOrAdd(key.ToString(), static _ => new Series());
        }

        private static StringBuilder BuildKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            StringBuilder sb = t_key ??= new StringBuilder(512);
            sb.Clear();
            if (tags.IsEmpty)
            {
                return sb;
            }

            KeyValuePair<string, object?>[] sorted = t_sorted is { } s && s.Length >= tags.Length ? s : t_sorted = new KeyValuePair<string, object?>[Math.Max(16, tags.Length)];
            Span<KeyValuePair<string, object?>> span = sorted.AsSpan(0, tags.Length);
            tags.CopyTo(span);
            for (int i = 1; i < span.Length; i++)
            {
                KeyValuePair<string, object?> item = span[i];
                int j = i - 1;
                while (j >= 0 && string.CompareOrdinal(span[j].Key, item.Key) > 0)
                {
                    span[j + 1] = span[j];
                    j--;
                }

                span[j + 1] = item;
            }

            for (int i = 0; i < span.Length; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }

                AppendName(sb, span[i].Key);
                sb.Append("=\"");
                AppendLabelValue(sb, span[i].Value switch
                {
                    null => string.Empty,
                    string str => str,
                    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                    object o => o.ToString() ?? string.Empty,
                });
                sb.Append('"');
            }

            span.Clear();
            return sb;
        }
    }
}
