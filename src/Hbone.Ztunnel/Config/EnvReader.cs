using System.Collections;
using System.Globalization;
using System.Net;
using Hbone.Identity;

namespace Hbone.Ztunnel.Config;

/// <summary>Typed reads of environment variables; unset or empty means "use the default".</summary>
internal sealed class EnvReader(IDictionary env)
{
    public string? String(string name) => env[name] is string { Length: > 0 } value ? value.Trim() : null;

    public int? Int(string name, int min, int max)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value
            : throw new ZtunnelConfigException(name, $"'{text}' is not an integer in [{min}, {max}]");
    }

    public int? Port(string name) => Int(name, 1, 65535);

    /// <summary>An <c>ip:port</c>, <c>[ipv6]:port</c> or <c>localhost:port</c> (127.0.0.1) address.</summary>
    public IPEndPoint? LocalEndPoint(string name)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        const string Localhost = "localhost:";
        string parsed = text.StartsWith(Localhost, StringComparison.OrdinalIgnoreCase) ? "127.0.0.1:" + text[Localhost.Length..] : text;
        return IPEndPoint.TryParse(parsed, out IPEndPoint? endPoint) && endPoint.Port != 0 && parsed.Contains(':', StringComparison.Ordinal)
            ? endPoint
            : throw new ZtunnelConfigException(name, $"'{text}' is not an address with a port (127.0.0.1:15053, [::1]:15053 or localhost:15053)");
    }

    public bool? Bool(string name) => String(name)?.ToLowerInvariant() switch
    {
        null => null,
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        var text => throw new ZtunnelConfigException(name, $"'{text}' is not a boolean (true or false)"),
    };

    public string? TrustDomain(string name)
    {
        string? value = String(name);
        return value is null || SpiffeId.TryParse($"spiffe://{value}/x", out _, out _)
            ? value
            : throw new ZtunnelConfigException(name, $"'{value}' is not a SPIFFE trust domain");
    }

    /// <summary>A Go-style duration (<c>500ms</c>, <c>5s</c>, <c>5m</c>, <c>1h</c>) or plain seconds.</summary>
    public TimeSpan Duration(string name, TimeSpan fallback, bool positive = false)
    {
        if (String(name) is not { } text)
        {
            return fallback;
        }

        (string number, double unit) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1),
            _ when text.EndsWith('m') => (text[..^1], 60),
            _ when text.EndsWith('h') => (text[..^1], 3600),
            _ => (text, 1),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
            || double.IsInfinity(value * unit) || value * unit > TimeSpan.MaxValue.TotalSeconds / 2 || (positive && value == 0))
        {
            throw new ZtunnelConfigException(name, $"'{text}' is not a {(positive ? "positive " : "")}duration (e.g. 500ms, 5s, 5m, 1h)");
        }

        return TimeSpan.FromSeconds(value * unit);
    }

    /// <summary>
    /// An http(s) URL, as ztunnel's <c>XDS_ADDRESS</c>/<c>CA_ADDRESS</c>: an address without a scheme (Istio's chart
    /// writes <c>istiod.istio-system.svc:15012</c>) means https, as ztunnel reads it.
    /// </summary>
    public Uri? Url(string name)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "https://" + text;
        }

        return Uri.TryCreate(text, UriKind.Absolute, out Uri? url) && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp) && url.Host.Length > 0
            ? url
            : throw new ZtunnelConfigException(name, $"'{text}' is not an https:// URL (e.g. https://istiod.istio-system.svc:15012)");
    }

    /// <summary>Every variable named <paramref name="prefix"/>NAME, as NAME to its value (ztunnel's header and metadata variables).</summary>
    public IReadOnlyDictionary<string, string> Prefixed(string prefix)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in env)
        {
            if (entry.Key is string key && key.Length > prefix.Length && key.StartsWith(prefix, StringComparison.Ordinal) && entry.Value is string value)
            {
                values[key[prefix.Length..]] = value;
            }
        }

        return values;
    }
}
