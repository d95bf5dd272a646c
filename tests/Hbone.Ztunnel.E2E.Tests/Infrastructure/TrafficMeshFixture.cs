using System.Net;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// One lab with the mesh running and echo apps in every pod (echo, local-echo and the outsider on 8080), shared by
/// the tests of one class. Tests that change the config go through <see cref="ApplyPoliciesAsync"/> and restore it
/// with <see cref="RestoreConfigAsync"/>; both return only once both ztunnels loaded the file.
/// </summary>
public sealed class TrafficMeshFixture : MeshLabFixture
{
    /// <summary>The deadline of every single wait in these tests.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private const string EmptyPolicies = "policies: []";
    private IReadOnlyDictionary<string, MeshNode>? _mesh;
    private string? _originalYaml;

    /// <summary>The ztunnel of node-a (client, local-echo).</summary>
    internal ZtunnelProcess NodeA => _mesh!["node-a"].Ztunnel;

    /// <summary>The ztunnel of node-b (echo, outsider).</summary>
    internal ZtunnelProcess NodeB => _mesh!["node-b"].Ztunnel;

    /// <summary>The app of the echo pod (10.244.2.2:8080), the backend of the echo service.</summary>
    internal EchoApp Echo { get; private set; } = null!;

    /// <summary>The app of the local-echo pod (10.244.1.3:8080).</summary>
    internal EchoApp LocalEcho { get; private set; } = null!;

    /// <summary>The app of the outsider pod (10.244.2.9:8080, not in the mesh).</summary>
    internal EchoApp OutsiderApp { get; private set; } = null!;

    /// <summary>The echo pod's target port address, 10.244.2.2:8080.</summary>
    internal IPEndPoint EchoPodEndPoint => new(Lab.Echo.Ip, Lab.EchoTargetPort);

    /// <summary>The local config both ztunnels watch.</summary>
    internal string ConfigPath => Path.Combine(Lab.WorkDir, "config.yaml");

    private protected override async Task SetUpAsync(MeshLab lab)
    {
        Echo = lab.Track(await EchoApp.StartAsync(lab.Echo, lab.EchoTargetPort));
        LocalEcho = lab.Track(await EchoApp.StartAsync(lab.LocalEcho, lab.EchoTargetPort));
        OutsiderApp = lab.Track(await EchoApp.StartAsync(lab.Outsider, lab.EchoTargetPort));
        _mesh = await Mesh.StartAsync(lab, TimeSpan.FromSeconds(60));
        _originalYaml = await File.ReadAllTextAsync(ConfigPath);
        if (!_originalYaml.Contains(EmptyPolicies, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the lab config has no '{EmptyPolicies}' line to replace");
        }
    }

    /// <summary>
    /// Writes the lab config with <paramref name="policiesYaml"/> (a complete <c>policies:</c> block) in place of
    /// <c>policies: []</c> and waits until both ztunnels logged the load of <paramref name="count"/> policies.
    /// </summary>
    internal Task ApplyPoliciesAsync(string policiesYaml, int count) =>
        WriteAndWaitAsync(_originalYaml!.Replace(EmptyPolicies, policiesYaml.TrimEnd(), StringComparison.Ordinal), count);

    /// <summary>Writes the original config back and waits until both ztunnels loaded it (0 policies).</summary>
    internal Task RestoreConfigAsync() => WriteAndWaitAsync(_originalYaml!, 0);

    private async Task WriteAndWaitAsync(string yaml, int policies)
    {
        var marks = new[] { TrafficLog.Mark(NodeA), TrafficLog.Mark(NodeB) };

        // Replace the file in one step, so a reload never reads half of it.
        var temporary = ConfigPath + ".tmp";
        await File.WriteAllTextAsync(temporary, yaml);
        File.Move(temporary, ConfigPath, overwrite: true);
        foreach (var mark in marks)
        {
            await mark.WaitForLineAsync(
                l => l.Contains("Loaded ", StringComparison.Ordinal) && l.Contains($" {policies} policies", StringComparison.Ordinal),
                Deadline);
        }
    }
}
