using Hbone.Identity;
using Hbone.Ztunnel.State;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Hbone.Ztunnel.Config;

/// <summary>Reads ztunnel's local config YAML (same keys as ztunnel) into <see cref="LocalConfig"/>.</summary>
/// <remarks>Unknown keys of workloads and services are ignored (ztunnel has many more); unknown keys of a policy match mark it <see cref="PolicyMatch.RequiresL7"/>.</remarks>
public static class LocalConfigParser
{
    /// <summary>Reads and parses a file; errors name the file.</summary>
    /// <param name="path">The YAML file.</param>
    /// <returns>The config.</returns>
    /// <exception cref="LocalConfigException">The file is not a valid config.</exception>
    public static LocalConfig ParseFile(string path) => Parse(File.ReadAllText(path), System.IO.Path.GetFileName(path));

    /// <summary>Parses YAML text.</summary>
    /// <param name="yaml">The document.</param>
    /// <param name="fileName">The file name errors start with, when any.</param>
    /// <returns>The config.</returns>
    /// <exception cref="LocalConfigException">The text is not a valid config.</exception>
    public static LocalConfig Parse(string yaml, string? fileName = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var reader = new YamlReader(fileName);
        var stream = new YamlStream();
        try
        {
            CheckShape(reader, yaml);
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new LocalConfigException(fileName, e.Start.Line, e.Start.Column, "", SyntaxProblem(e), e);
        }
        // Not every YamlDotNet failure is a YamlException; any of them is still a bad document, never a crash.
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new LocalConfigException(fileName, 1, 1, "", $"invalid YAML: {e.Message}", e);
        }

        if (stream.Documents.Count == 0 || YamlReader.IsNull(stream.Documents[0].RootNode))
        {
            return LocalConfig.Empty;
        }

        if (stream.Documents.Count > 1)
        {
            YamlNode second = stream.Documents[1].RootNode;
            throw reader.Fail(second, "", "expected one YAML document");
        }

        return Read(reader, stream.Documents[0].RootNode);
    }

    /// <summary>A config nests at most 7 levels (policies, rules, clauses, matches, lists); YamlDotNet builds nodes recursively, so a deeper document could overflow the stack.</summary>
    internal const int MaxDepth = 32;

    private static void CheckShape(YamlReader reader, string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        int depth = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > MaxDepth)
                    {
                        throw reader.Fail(parser.Current!.Start, $"nesting deeper than {MaxDepth} levels");
                    }

                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    break;

                // An alias repeated at every level expands exponentially when the tree is read ("billion laughs").
                case YamlDotNet.Core.Events.AnchorAlias:
                    throw reader.Fail(parser.Current!.Start, "YAML aliases (*name) are not supported");
            }
        }
    }

    private static LocalConfig Read(YamlReader reader, YamlNode root)
    {
        var entries = reader.Entries(reader.Mapping(root, "(root)"), "(root)");
        IReadOnlyList<Workload> workloads = [];
        IReadOnlyList<Service> services = [];
        IReadOnlyList<AuthorizationPolicy> policies = [];
        if (Optional(entries, "workloads") is { } w)
        {
            workloads = reader.List(w, "workloads", (node, path) => WorkloadReader.Read(reader, node, path));
            RejectDuplicates(reader, w, "workloads", workloads, x => x.Uid, "uid", "workload uid");
        }

        if (Optional(entries, "services") is { } s)
        {
            services = reader.List(s, "services", (node, path) => ServiceReader.Read(reader, node, path));
            RejectDuplicates(reader, s, "services", services, x => x.Key, "hostname", "service");
        }

        if (Optional(entries, "policies") is { } p)
        {
            policies = reader.List(p, "policies", (node, path) => PolicyReader.Read(reader, node, path));
            RejectDuplicates(reader, p, "policies", policies, x => $"{x.Namespace}/{x.Name}", "name", "policy");
        }

        return new LocalConfig(workloads, services, policies);
    }

    internal static YamlNode? Optional(Dictionary<string, (YamlNode Key, YamlNode Value)> entries, string key) =>
        entries.TryGetValue(key, out var entry) && !YamlReader.IsNull(entry.Value) ? entry.Value : null;

    internal static YamlNode Required(YamlReader reader, Dictionary<string, (YamlNode Key, YamlNode Value)> entries, string key, YamlNode owner, string path) =>
        Optional(entries, key) ?? throw reader.Fail(owner, path, $"missing required field '{key}'");

    /// <summary>Checks that the namespace and service account make a valid Istio SPIFFE ID.</summary>
    internal static void CheckIdentityComponent(YamlReader reader, YamlNode node, string path, string value)
    {
        try
        {
            _ = SpiffeId.ForIstio("cluster.local", value, "sa");
        }
        catch (SpiffeIdException)
        {
            throw reader.Fail(node, path, $"'{value}' cannot be part of a SPIFFE ID");
        }
    }

    private static void RejectDuplicates<T>(YamlReader reader, YamlNode listNode, string listName, IReadOnlyList<T> items, Func<T, string> key, string field, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sequence = (YamlSequenceNode)listNode;
        for (int i = 0; i < items.Count; i++)
        {
            string k = key(items[i]);
            if (!seen.Add(k))
            {
                YamlNode item = sequence.Children[i];
                YamlNode at = item is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(field), out YamlNode? f) ? f : item;
                throw reader.Fail(at, $"{listName}[{i}].{field}", $"duplicate {what} '{k}'");
            }
        }
    }

    private static string SyntaxProblem(YamlException e)
    {
        // YamlDotNet prefixes messages with "(Line: 1, Col: 2, Idx: 3) - (...): "; the position is already in front.
        string message = e.Message;
        int cut = message.IndexOf("): ", StringComparison.Ordinal);
        return $"invalid YAML: {(cut >= 0 ? message[(cut + 3)..] : message)}";
    }
}
