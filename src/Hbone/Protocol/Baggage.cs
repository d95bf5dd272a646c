using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Hbone.Protocol;

/// <summary>A W3C <c>baggage</c> header as HBONE uses it: source workload labels for telemetry. Never used for authorization.</summary>
public sealed class Baggage
{
    /// <summary>Most list-members a value may hold (W3C Baggage limit).</summary>
    public const int MaxMembers = 180;

    /// <summary>Longest value accepted, in characters (W3C Baggage limit of 8192 bytes; the header is ASCII).</summary>
    public const int MaxLength = 8192;

    private static readonly string[] WorkloadKinds = ["deployment", "pod", "job", "cronjob"];

    private readonly KeyValuePair<string, string>[] _entries;

    private Baggage(KeyValuePair<string, string>[] entries) => _entries = entries;

    /// <summary>The list-members in header order (duplicates kept); values are percent-decoded.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Entries => _entries;

    /// <summary>The value of the first member named <paramref name="key"/> (ordinal), or <see langword="null"/>.</summary>
    /// <param name="key">The member key, such as <c>k8s.namespace.name</c>.</param>
    public string? this[string key]
    {
        get
        {
            foreach (KeyValuePair<string, string> entry in _entries)
            {
                if (string.Equals(entry.Key, key, StringComparison.Ordinal))
                {
                    return entry.Value;
                }
            }
            return null;
        }
    }

    /// <summary>Parses one <c>baggage</c> header value.</summary>
    /// <param name="value">Comma-separated <c>key=value</c> list-members; <c>;properties</c> are validated and ignored.</param>
    /// <param name="baggage">The parsed baggage, or <see langword="null"/> when the value is invalid.</param>
    /// <returns>False for an invalid member, a bad percent-escape or UTF-8 sequence, or more than 180 members or 8192 characters.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, [NotNullWhen(true)] out Baggage? baggage)
    {
        baggage = null;
        if (value.Length > MaxLength)
        {
            return false;
        }
        var entries = new List<KeyValuePair<string, string>>(8);
        int pos = 0;
        while (true)
        {
            if (entries.Count == MaxMembers || !TryReadMember(value, ref pos, out string? key, out string? decoded))
            {
                return false;
            }
            entries.Add(new KeyValuePair<string, string>(key!, decoded!));
            if (pos == value.Length)
            {
                break;
            }
            if (value[pos] != ',')
            {
                return false;
            }
            pos++;
        }
        baggage = new Baggage(entries.ToArray());
        return true;
    }

    /// <summary>Formats list-members as a <c>baggage</c> value, percent-encoding values and skipping empty ones.</summary>
    /// <param name="entries">The members; keys must be HTTP tokens.</param>
    /// <returns>The header value (empty when every value is empty).</returns>
    /// <exception cref="ArgumentException">A key is not a token, a value is not valid UTF-16, or the result exceeds the W3C limits.</exception>
    public static string Format(IEnumerable<KeyValuePair<string, string>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var text = new StringBuilder(128);
        int members = 0;
        foreach (KeyValuePair<string, string> entry in entries)
        {
            if (string.IsNullOrEmpty(entry.Value))
            {
                continue;
            }
            if (!HttpSyntax.IsToken(entry.Key))
            {
                throw new ArgumentException("A baggage key must be an HTTP token.", nameof(entries));
            }
            if (members++ > 0)
            {
                text.Append(',');
            }
            text.Append(entry.Key).Append('=');
            BaggageEncoding.AppendEncoded(text, entry.Value);
        }
        if (members > MaxMembers || text.Length > MaxLength)
        {
            throw new ArgumentException("The baggage exceeds the W3C limits (180 members, 8192 bytes).", nameof(entries));
        }
        return text.ToString();
    }

    /// <summary>The baggage ztunnel sends for a source workload; null or empty fields are omitted.</summary>
    /// <param name="clusterName">Becomes <c>k8s.cluster.name</c>.</param>
    /// <param name="ns">Becomes <c>k8s.namespace.name</c>.</param>
    /// <param name="workloadKind"><c>deployment</c>, <c>pod</c>, <c>job</c> or <c>cronjob</c>: names the key <c>k8s.&lt;kind&gt;.name</c>.</param>
    /// <param name="workloadName">Becomes <c>k8s.&lt;kind&gt;.name</c>; omitted when <paramref name="workloadKind"/> is empty.</param>
    /// <param name="serviceName">Becomes <c>service.name</c>.</param>
    /// <param name="serviceVersion">Becomes <c>service.version</c>.</param>
    /// <param name="region">Becomes <c>cloud.region</c>.</param>
    /// <param name="zone">Becomes <c>cloud.availability_zone</c>.</param>
    /// <returns>The baggage; format it with <see cref="ToString"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="workloadKind"/> is not one of the four kinds.</exception>
    public static Baggage ForWorkload(string? clusterName, string? ns, string? workloadKind, string? workloadName, string? serviceName, string? serviceVersion, string? region = null, string? zone = null)
    {
        var entries = new List<KeyValuePair<string, string>>(7);
        Add(entries, "k8s.cluster.name", clusterName);
        Add(entries, "k8s.namespace.name", ns);
        if (!string.IsNullOrEmpty(workloadKind))
        {
            if (Array.IndexOf(WorkloadKinds, workloadKind) < 0)
            {
                throw new ArgumentException("The workload kind must be deployment, pod, job or cronjob.", nameof(workloadKind));
            }
            Add(entries, $"k8s.{workloadKind}.name", workloadName);
        }
        Add(entries, "service.name", serviceName);
        Add(entries, "service.version", serviceVersion);
        Add(entries, "cloud.region", region);
        Add(entries, "cloud.availability_zone", zone);
        return new Baggage(entries.ToArray());
    }

    /// <summary>The header value (see <see cref="Format"/>).</summary>
    /// <returns>The formatted baggage.</returns>
    public override string ToString() => Format(_entries);

    private static void Add(List<KeyValuePair<string, string>> entries, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            entries.Add(new KeyValuePair<string, string>(key, value));
        }
    }

    private static bool TryReadMember(ReadOnlySpan<char> value, ref int pos, out string? key, out string? decoded)
    {
        key = null;
        decoded = null;
        pos = HttpSyntax.SkipOws(value, pos);
        if (!TryReadPair(value, ref pos, requireValue: true, out ReadOnlySpan<char> keyText, out ReadOnlySpan<char> valueText))
        {
            return false;
        }
        while (pos < value.Length && value[pos] == ';')
        {
            pos = HttpSyntax.SkipOws(value, pos + 1);
            if (!TryReadPair(value, ref pos, requireValue: false, out _, out _))
            {
                return false;
            }
        }
        if (!BaggageEncoding.TryDecode(valueText, out decoded))
        {
            return false;
        }
        key = keyText.ToString();
        return true;
    }

    private static bool TryReadPair(ReadOnlySpan<char> value, ref int pos, bool requireValue, out ReadOnlySpan<char> key, out ReadOnlySpan<char> pairValue)
    {
        pairValue = default;
        int start = pos;
        while (pos < value.Length && HttpSyntax.IsTokenChar(value[pos]))
        {
            pos++;
        }
        key = value[start..pos];
        pos = HttpSyntax.SkipOws(value, pos);
        if (key.IsEmpty)
        {
            return false;
        }
        if (pos == value.Length || value[pos] != '=')
        {
            // A property may be a bare key; a list-member may not.
            return !requireValue;
        }
        pos = HttpSyntax.SkipOws(value, pos + 1);
        start = pos;
        while (pos < value.Length && BaggageEncoding.IsValueChar(value[pos]))
        {
            pos++;
        }
        pairValue = value[start..pos];
        pos = HttpSyntax.SkipOws(value, pos);
        return pos == value.Length || value[pos] is ',' or ';';
    }
}
