namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>A lab shared by the tests of one class: created, set up by <see cref="SetUpAsync"/>, and removed after them (also when the set-up fails).</summary>
public abstract class MeshLabFixture : IAsyncLifetime
{
    private MeshLab? _lab;

    internal MeshLab Lab => _lab ?? throw new InvalidOperationException("the fixture is not initialized");

    public async Task InitializeAsync()
    {
        _lab = await MeshLab.UpAsync();
        try
        {
            await SetUpAsync(_lab);
        }
        catch
        {
            await _lab.DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }
    }

    /// <summary>Starts what the class needs on <paramref name="lab"/> (apps, the mesh), tracked by the lab.</summary>
    private protected abstract Task SetUpAsync(MeshLab lab);
}
