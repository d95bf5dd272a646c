using System.Globalization;
using System.Text;

namespace Hbone.Ztunnel.Tests.Telemetry;

/// <summary>One sample line of a Prometheus exposition: its name, labels and value.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A metric family: its <c># TYPE</c> and the samples that belong to it.</summary>
internal sealed record PrometheusFamily(string Name, string Type, List<PrometheusSample> Samples);

/// <summary>
/// Reads a Prometheus text exposition (0.0.4) into families and samples, so tests assert what a scraper sees (names, types,
/// label keys, values) rather than the text layout, which differs between exporters.
/// </summary>
internal static class PrometheusText
{
    private static readonly string[] Suffixes = ["_total", "_bucket", "_sum", "_count", "_created"];

    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string text)
    {
        var families = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ');
                Assert.True(parts.Length == 4, $"malformed TYPE line: {line}");
                Assert.False(families.ContainsKey(parts[2]), $"TYPE given twice for {parts[2]}");
                families[parts[2]] = new PrometheusFamily(parts[2], parts[3], []);
                continue;
            }

            if (line[0] == '#')
            {
                continue;
            }

            PrometheusSample sample = ParseSample(line);
            PrometheusFamily family = FamilyOf(families, sample.Name) ?? throw new InvalidDataException($"sample without a TYPE: {line}");
            family.Samples.Add(sample);
        }

        return families;
    }

    /// <summary>The families with at least one sample, each as "type [sorted label keys] sorted values" (easy to diff).</summary>
    public static SortedDictionary<string, string> Summaries(IReadOnlyDictionary<string, PrometheusFamily> families)
    {
        var summaries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (PrometheusFamily family in families.Values)
        {
            if (family.Samples.Count == 0)
            {
                continue;
            }

            string[] keys = [.. family.Samples.SelectMany(s => s.Labels.Keys).Distinct().Order(StringComparer.Ordinal)];
            Assert.All(family.Samples, s => Assert.Equal(keys, s.Labels.Keys.Order(StringComparer.Ordinal)));
            string values = string.Join(' ', family.Samples.Select(s => s.Value).Order().Select(v => v.ToString(CultureInfo.InvariantCulture)));
            summaries[family.Name] = $"{family.Type} [{string.Join(',', keys)}] {values}";
        }

        return summaries;
    }

    private static PrometheusFamily? FamilyOf(Dictionary<string, PrometheusFamily> families, string sampleName)
    {
        if (families.TryGetValue(sampleName, out PrometheusFamily? exact))
        {
            return exact;
        }

        foreach (string suffix in Suffixes)
        {
            if (sampleName.EndsWith(suffix, StringComparison.Ordinal) && families.TryGetValue(sampleName[..^suffix.Length], out PrometheusFamily? family))
            {
                return family;
            }
        }

        return null;
    }

    private static PrometheusSample ParseSample(string line)
    {
        int brace = line.IndexOf('{', StringComparison.Ordinal);
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        string name;
        int rest;
        if (brace >= 0 && (space < 0 || brace < space))
        {
            name = line[..brace];
            rest = ParseLabels(line, brace + 1, labels);
        }
        else
        {
            name = line[..space];
            rest = space;
        }

        string[] tail = line[rest..].Trim().Split(' ');
        double value = tail[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new PrometheusSample(name, labels, value);
    }

    private static int ParseLabels(string line, int i, Dictionary<string, string> labels)
    {
        while (line[i] != '}')
        {
            int eq = line.IndexOf('=', i);
            string key = line[i..eq];
            Assert.Equal('"', line[eq + 1]);
            var value = new StringBuilder();
            int j = eq + 2;
            for (; line[j] != '"'; j++)
            {
                if (line[j] == '\\')
                {
                    j++;
                    value.Append(line[j] switch { 'n' => '\n', var c => c });
                }
                else
                {
                    value.Append(line[j]);
                }
            }

            Assert.True(labels.TryAdd(key, value.ToString()), $"label {key} twice in: {line}");
            i = j + 1;
            if (line[i] == ',')
            {
                i++;
            }
        }

        return i + 1;
    }
}
