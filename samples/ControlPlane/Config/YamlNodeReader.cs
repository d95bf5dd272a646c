using System.Globalization;
using System.Net;
using System.Net.Sockets;
using YamlDotNet.RepresentationModel;

namespace DevControlPlane.Config;

/// <summary>Typed access to YAML nodes; every failure names the file, the position and the path of the bad value.</summary>
internal sealed class YamlNodeReader(string fileName)
{
    public MeshConfigException Fail(YamlNode node, string path, string problem) =>
        new($"{fileName}:{node.Start.Line}:{node.Start.Column}: {path}: {problem}");

    public YamlMappingNode Mapping(YamlNode node, string path) =>
        node as YamlMappingNode ?? throw Fail(node, path, "expected a mapping");

    public string Scalar(YamlNode node, string path) =>
        node is YamlScalarNode { Value: { } value } ? value : throw Fail(node, path, "expected a scalar");

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value) && !IsNull(value) ? value : null;

    public string Required(YamlMappingNode map, string key, string path)
    {
        YamlNode node = Get(map, key) ?? throw Fail(map, path, $"missing required field '{key}'");
        string value = Scalar(node, $"{path}.{key}");
        return value.Length > 0 ? value : throw Fail(node, $"{path}.{key}", "must not be empty");
    }

    public string Optional(YamlMappingNode map, string key, string path) =>
        Get(map, key) is { } node ? Scalar(node, $"{path}.{key}") : "";

    public List<T> List<T>(YamlNode node, string path, Func<YamlNode, string, T> item)
    {
        var sequence = node as YamlSequenceNode ?? throw Fail(node, path, "expected a list");
        var items = new List<T>(sequence.Children.Count);
        for (int i = 0; i < sequence.Children.Count; i++)
        {
            items.Add(item(sequence.Children[i], $"{path}[{i}]"));
        }

        return items;
    }

    public List<T> OptionalList<T>(YamlMappingNode map, string key, string path, Func<YamlNode, string, T> item) =>
        Get(map, key) is { } node ? List(node, path.Length == 0 ? key : $"{path}.{key}", item) : [];

    public IEnumerable<(string Key, YamlNode KeyNode, YamlNode Value)> Entries(YamlNode node, string path)
    {
        foreach (var (key, value) in Mapping(node, path).Children)
        {
            yield return (Scalar(key, path), key, value);
        }
    }

    public Dictionary<string, string> StringMap(YamlNode node, string path)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, _, value) in Entries(node, path))
        {
            map[key] = Scalar(value, $"{path}.{key}");
        }

        return map;
    }

    /// <summary>A <c>{servicePort: targetPort}</c> map, in file order.</summary>
    public List<(uint ServicePort, uint TargetPort)> PortMap(YamlNode node, string path)
    {
        var ports = new List<(uint, uint)>();
        foreach (var (_, keyNode, value) in Entries(node, path))
        {
            ports.Add((Port(keyNode, path), Port(value, path)));
        }

        return ports;
    }

    public uint Port(YamlNode node, string path)
    {
        string text = Scalar(node, path);
        return uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint port) && port is >= 1 and <= 65535
            ? port
            : throw Fail(node, path, $"'{text}' is not a port (1-65535)");
    }

    public IPAddress Ip(YamlNode node, string path) => ParseIp(Scalar(node, path), node, path);

    public IPAddress ParseIp(string text, YamlNode node, string path) =>
        IPAddress.TryParse(text, out IPAddress? ip) && IsCanonicalForm(text, ip) ? ip : throw Fail(node, path, $"'{text}' is not an IP address");

    // IPAddress.TryParse also takes "10" or "10.1" (inet_aton forms) and zone ids; a mesh address is neither.
    private static bool IsCanonicalForm(string text, IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetwork
        ? text.Count(c => c == '.') == 3
        : ip.ScopeId == 0 && !text.Contains('%', StringComparison.Ordinal);

    /// <summary><c>ip</c> or <c>ip/prefix</c>; a bare IP is a single host.</summary>
    public (IPAddress Address, uint Length) Cidr(YamlNode node, string path)
    {
        string text = Scalar(node, path);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        IPAddress ip = ParseIp(slash < 0 ? text : text[..slash], node, path);
        uint max = ip.AddressFamily == AddressFamily.InterNetwork ? 32u : 128u;
        uint length = max;
        if (slash >= 0 && (!uint.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max))
        {
            throw Fail(node, path, $"'{text}' is not a CIDR range");
        }

        return (ip, length);
    }

    /// <summary><c>network/ip</c> or a bare <c>ip</c> (default network).</summary>
    public (string Network, IPAddress Address) NetworkAddress(YamlNode node, string path)
    {
        string text = Scalar(node, path);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? ("", ParseIp(text, node, path)) : (text[..slash], ParseIp(text[(slash + 1)..], node, path));
    }
}
