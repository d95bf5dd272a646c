using System.CommandLine;
using System.Globalization;

namespace Hbone.Cli.Commands.Ztunnel;

/// <summary><c>hbone ztunnel workloads|services</c>: a running ztunnel's state from its admin <c>/config_dump</c>, as tables.</summary>
internal static class ZtunnelCommand
{
    private const string None = "None";

    public static Command Create()
    {
        var admin = new Option<string>("--admin")
        {
            Description = "The ztunnel admin endpoint (IP:PORT) to read /config_dump from.",
            DefaultValueFactory = _ => "127.0.0.1:15000",
            Recursive = true,
        };

        var workloads = new Command("workloads", "List the workloads the ztunnel knows: namespace, pod, address, node, waypoint, protocol.");
        workloads.SetAction((parse, token) => CliError.RunAsync(async () =>
        {
            var dump = await ConfigDumpClient.GetAsync(ServeCommand.ParseEndPoint(parse.GetRequiredValue(admin)), token).ConfigureAwait(false);
            WriteWorkloads(Console.Out, dump);
            return 0;
        }));

        var services = new Command("services", "List the services the ztunnel knows: namespace, name, VIP, waypoint, endpoints.");
        services.SetAction((parse, token) => CliError.RunAsync(async () =>
        {
            var dump = await ConfigDumpClient.GetAsync(ServeCommand.ParseEndPoint(parse.GetRequiredValue(admin)), token).ConfigureAwait(false);
            WriteServices(Console.Out, dump);
            return 0;
        }));

        return new Command("ztunnel", "Inspect a running ztunnel through its admin endpoint (like istioctl ztunnel-config).") { admin, workloads, services };
    }

    internal static void WriteWorkloads(TextWriter output, ConfigDump dump)
    {
        var sorted = dump.Workloads.OrderBy(w => w.Namespace, StringComparer.Ordinal).ThenBy(w => w.Name, StringComparer.Ordinal);
        var rows = sorted.Select(w => new[]
        {
            w.Namespace,
            w.Name,
            w.WorkloadIps.Count > 0 ? w.WorkloadIps[0] : "",
            w.Node,
            Display(w.Waypoint),
            w.Protocol,
        }).ToList();
        TableWriter.Write(output, ["NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"], rows);
    }

    internal static void WriteServices(TextWriter output, ConfigDump dump)
    {
        var sorted = dump.Services.OrderBy(s => s.Namespace, StringComparer.Ordinal).ThenBy(s => s.Name, StringComparer.Ordinal);
        var rows = sorted.Select(s =>
        {
            // Health is not tracked: every endpoint the dump lists counts as healthy.
            var count = s.Endpoints.Count.ToString(CultureInfo.InvariantCulture);
            return new[] { s.Namespace, s.Name, s.Vips.Count > 0 ? Display(s.Vips[0]) : "", Display(s.Waypoint), $"{count}/{count}" };
        }).ToList();
        TableWriter.Write(output, ["NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS"], rows);
    }

    // "network/ip": the default network (empty) prints as the bare address.
    private static string Display(string? networkAddress) =>
        networkAddress is null ? None : networkAddress.StartsWith('/') ? networkAddress[1..] : networkAddress;
}
