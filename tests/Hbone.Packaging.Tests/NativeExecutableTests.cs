namespace Hbone.Packaging.Tests;

/// <summary>
/// PKG-13: every program under src (the ztunnel, its node agent, the CLI) takes the shared native settings of
/// src/NativeExecutable.props: no ICU, the trim/AOT analyzers, and the GC's gen0 budget capped. Without the cap the
/// GC sizes gen0 from the L3 cache (~80 MiB on a 260 MiB-L3 host) and each process holds that much more under churn
/// (docs/benchmarks.md); Native AOT takes the cap only compiled in, not from DOTNET_GCgen0size.
/// </summary>
public sealed class NativeExecutableTests
{
    private const string Gen0MaxBudget = "System.GC.Gen0MaxBudget";

    public static TheoryData<string> Programs => new(ProgramProjects());

    private static string[] ProgramProjects() =>
        Directory.GetFiles(Path.Combine(PackedPackage.RepositoryRoot, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(project => File.ReadAllText(project).Contains("<OutputType>Exe</OutputType>", StringComparison.Ordinal))
            .Select(project => Path.GetRelativePath(PackedPackage.RepositoryRoot, project))
            .Order(StringComparer.Ordinal)
            .ToArray();

    [Fact]
    public void PKG_13_The_three_programs_are_found()
    {
        Assert.Equal(
            ["src/Hbone.Cli/Hbone.Cli.csproj", "src/Hbone.Ztunnel.Cni/Hbone.Ztunnel.Cni.csproj", "src/Hbone.Ztunnel/Hbone.Ztunnel.csproj"],
            ProgramProjects());
    }

    [Theory]
    [MemberData(nameof(Programs))]
    public async Task PKG_13_Every_program_caps_the_gen0_budget_and_keeps_the_native_settings(string project)
    {
        var (properties, options) = await MsBuildProperties.EvaluateWithItemsAsync(
            project, "RuntimeHostConfigurationOption", "InvariantGlobalization", "EnableAotAnalyzer", "EnableTrimAnalyzer");

        Assert.Equal("true", properties["InvariantGlobalization"]);
        Assert.Equal("true", properties["EnableAotAnalyzer"]);
        Assert.Equal("true", properties["EnableTrimAnalyzer"]);
        var budget = Assert.Single(options, o => o.Identity == Gen0MaxBudget);
        // 2 MiB: at 4 MiB the ztunnel under load kept a whole 4 MiB GC region touched (docs/benchmarks.md, "Ninth step").
        Assert.Equal(2 * 1024 * 1024, int.Parse(budget.Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
