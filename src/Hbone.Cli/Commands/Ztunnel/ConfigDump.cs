using System.Text.Json.Serialization;

namespace Hbone.Cli.Commands.Ztunnel;

/// <summary>The part of the ztunnel admin <c>/config_dump</c> JSON the tables show.</summary>
internal sealed record ConfigDump(IReadOnlyList<DumpWorkload> Workloads, IReadOnlyList<DumpService> Services);

/// <summary>A workload of the config dump.</summary>
internal sealed record DumpWorkload(string Uid, string Name, string Namespace, IReadOnlyList<string> WorkloadIps, string Protocol, string Node, string? Waypoint);

/// <summary>A service of the config dump.</summary>
internal sealed record DumpService(string Name, string Namespace, IReadOnlyList<string> Vips, IReadOnlyList<string> Endpoints, string? Waypoint);

/// <summary>Source-generated (reflection-free) reading of the dump; every field the tables use is required and non-null unless marked nullable.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ConfigDump))]
internal sealed partial class ConfigDumpJsonContext : JsonSerializerContext;
