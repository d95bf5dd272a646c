using System.Globalization;
using System.Net;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Hbone.Ztunnel.Config;

/// <summary>Typed reads from YamlDotNet nodes; every failure names the node's line, column and path.</summary>
internal sealed class YamlReader(string? fileName)
{
    public LocalConfigException Fail(YamlNode node, string path, string problem) =>
        new(fileName, node.Start.Line, node.Start.Column, path, problem);

    public LocalConfigException Fail(Mark mark, string problem) => new(fileName, mark.Line, mark.Column, "", problem);

    public YamlMappingNode Mapping(YamlNode node, string path) =>
        node as YamlMappingNode ?? throw Fail(node, path, $"expected a mapping, found {Describe(node)}");

    public YamlSequenceNode Sequence(YamlNode node, string path) =>
        node as YamlSequenceNode ?? throw Fail(node, path, $"expected a sequence, found {Describe(node)}");

    public string String(YamlNode node, string path) =>
        node is YamlScalarNode { Value: { } value } ? value : throw Fail(node, path, $"expected a string, found {Describe(node)}");

    public string NonEmptyString(YamlNode node, string path)
    {
        string value = String(node, path);
        return value.Length > 0 ? value : throw Fail(node, path, "must not be empty");
    }

    public int Int(YamlNode node, string path, int min, int max, string what)
    {
        string text = String(node, path);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw Fail(node, path, $"'{text}' is not {what}");
        }

        return value;
    }

    public int Port(YamlNode node, string path) => Int(node, path, 1, 65535, "a port (1-65535)");

    public IPAddress Ip(YamlNode node, string path) => ParseIp(String(node, path)) ?? throw Fail(node, path, $"'{String(node, path)}' is not an IP address");

    /// <summary>A strict IP parse: dotted quad or IPv6, without the legacy forms <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> accepts ("10", "1.2.3").</summary>
    public static IPAddress? ParseIp(string text)
    {
        if (text.Length == 0 || text.Contains('%') || !IPAddress.TryParse(text, out IPAddress? address))
        {
            return null;
        }

        if (text.Contains(':'))
        {
            return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? address : null;
        }

        return address.ToString() == text ? address : null;
    }

    public System.Net.IPNetwork Cidr(YamlNode node, string path)
    {
        string text = String(node, path);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        IPAddress? address = ParseIp(slash < 0 ? text : text[..slash]);
        if (address is null)
        {
            throw Fail(node, path, $"'{text}' is not a CIDR range");
        }

        int maxPrefix = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        int prefix = maxPrefix;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > maxPrefix))
        {
            throw Fail(node, path, $"'{text}' is not a CIDR range");
        }

        return HasHostBits(address, prefix)
            ? throw Fail(node, path, $"'{text}' has bits set after the /{prefix} prefix")
            : new System.Net.IPNetwork(address, prefix);
    }

    private static bool HasHostBits(IPAddress address, int prefix)
    {
        byte[] bytes = address.GetAddressBytes();
        for (int bit = prefix; bit < bytes.Length * 8; bit++)
        {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The mapping's entries by key; keys must be unique strings.</summary>
    public Dictionary<string, (YamlNode Key, YamlNode Value)> Entries(YamlMappingNode map, string path)
    {
        var entries = new Dictionary<string, (YamlNode, YamlNode)>(StringComparer.Ordinal);
        foreach (KeyValuePair<YamlNode, YamlNode> entry in map.Children)
        {
            string key = String(entry.Key, path);
            if (!entries.TryAdd(key, (entry.Key, entry.Value)))
            {
                throw Fail(entry.Key, path, $"duplicate key '{key}'");
            }
        }

        return entries;
    }

    public IReadOnlyList<T> List<T>(YamlNode node, string path, Func<YamlNode, string, T> item)
    {
        YamlSequenceNode sequence = Sequence(node, path);
        var list = new List<T>(sequence.Children.Count);
        for (int i = 0; i < sequence.Children.Count; i++)
        {
            list.Add(item(sequence.Children[i], $"{path}[{i}]"));
        }

        return list;
    }

    /// <summary>A <c>{port: targetPort}</c> map.</summary>
    public IReadOnlyDictionary<int, int> PortMap(YamlNode node, string path)
    {
        var ports = new Dictionary<int, int>();
        foreach (KeyValuePair<YamlNode, YamlNode> entry in Mapping(node, path).Children)
        {
            int port = Port(entry.Key, path);
            if (!ports.TryAdd(port, Port(entry.Value, $"{path}.{port}")))
            {
                throw Fail(entry.Key, path, $"duplicate port {port}");
            }
        }

        return ports;
    }

    public IReadOnlyDictionary<string, string> StringMap(YamlNode node, string path)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, (_, value)) in Entries(Mapping(node, path), path))
        {
            map[key] = String(value, $"{path}.{key}");
        }

        return map;
    }

    /// <summary>A plain <c>~</c>, <c>null</c> or empty value means "not set", as in ztunnel's serde reader.</summary>
    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a sequence",
        YamlScalarNode { Value: var v } => $"'{v}'",
        _ => "an alias",
    };
}
