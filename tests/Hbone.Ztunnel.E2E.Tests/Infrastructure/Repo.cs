namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>Paths in the repository the tests run from: the lab script and the published programs.</summary>
internal static class Repo
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The directory that holds Hbone.sln.</summary>
    public static string Root => s_root.Value;

    /// <summary>scripts/lab/mesh-lab.sh, the single source of truth for the topology.</summary>
    public static string MeshLabScript => Path.Combine(Root, "scripts", "lab", "mesh-lab.sh");

    /// <summary>The configuration this test assembly was built with (Release or Debug); the programs are run from the same one.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    /// <summary>
    /// The published Native AOT binary of a program under src/ (scripts/publish.sh), e.g. <c>Program("Hbone.Ztunnel")</c>
    /// is <c>artifacts/publish/hbone-ztunnel/hbone-ztunnel</c>: the tests run the programs as users do.
    /// </summary>
    /// <exception cref="FileNotFoundException">It is not published.</exception>
    public static string Program(string project)
    {
        var name = project switch
        {
            "Hbone.Ztunnel" => "hbone-ztunnel",
            "Hbone.Ztunnel.Cni" => "hbone-ztunnel-cni",
            "Hbone.Cli" => "hbone",
            _ => throw new ArgumentException($"{project} is not a published program", nameof(project)),
        };
        var path = Path.Combine(Root, "artifacts", "publish", name, name);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{path} is not published: run ./scripts/publish.sh (scripts/test.sh does)", path);
    }

    /// <summary>
    /// The command line that runs <paramref name="program"/>: a framework-dependent dll (the control plane sample) through
    /// <c>dotnet</c>, a native binary (<see cref="Program"/>) directly.
    /// </summary>
    public static string[] Command(string program, params IEnumerable<string> arguments) =>
        program.EndsWith(".dll", StringComparison.Ordinal) ? ["dotnet", program, .. arguments] : [program, .. arguments];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hbone.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Hbone.sln above {AppContext.BaseDirectory}");
    }
}
