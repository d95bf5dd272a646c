using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>
/// Sums the long counters of one meter instance per label set, for tests of what the proxy counts (not of how an exporter
/// writes it: <see cref="MetricsScrape"/> does that over HTTP). <see cref="Render"/> writes one line per series,
/// <c>name{labels sorted by key} value</c>, sorted.
/// </summary>
internal sealed class CounterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _series = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Name, KeyValuePair<string, object?>[] Tags)> _labels = new(StringComparer.Ordinal);

    public CounterRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument is Counter<long>)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = Key(instrument.Name, tags);
            _series.AddOrUpdate(key, value, (_, sum) => sum + value);
            _labels.TryAdd(key, (instrument.Name, tags.ToArray()));
        });
        _listener.Start();
    }

    public string Render()
    {
        var sb = new StringBuilder();
        foreach (string key in _series.Keys.Order(StringComparer.Ordinal))
        {
            sb.Append(key).Append(' ').Append(_series[key].ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>The series of <paramref name="name"/>: each one's labels (in the order recorded) and sum.</summary>
    public IReadOnlyList<(IReadOnlyList<KeyValuePair<string, object?>> Labels, long Value)> Series(string name) =>
        [.. _labels.Where(e => e.Value.Name == name).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => ((IReadOnlyList<KeyValuePair<string, object?>>)e.Value.Tags, _series[e.Key]))];

    /// <summary>The sum of the one series of <paramref name="name"/> whose <paramref name="label"/> is <paramref name="value"/> (0 when none).</summary>
    public long Value(string name, string label, string value) =>
        Series(name).Where(s => s.Labels.Any(t => t.Key == label && Equals(t.Value, value))).Sum(s => s.Value);

    public void Dispose() => _listener.Dispose();

    private static string Key(string name, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return name;
        }

        var sorted = tags.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return $"{name}{{{string.Join(',', sorted.Select(t => $"{t.Key}=\"{t.Value}\""))}}}";
    }
}
