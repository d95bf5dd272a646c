using Hbone.Identity;
using Polly;
using Polly.Retry;

namespace Hbone.Istio.Ca;

/// <summary>One identity's certificate and its fetch-and-renew loop, as ztunnel's SecretManager keeps one per identity.</summary>
internal sealed class IdentityCertificate : ISvidSource
{
    internal const string Initializing = "Initializing";
    internal const string Available = "Available";
    internal const string Unavailable = "Unavailable";

    // TimeProvider timers take at most ~49 days; longer waits are split.
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromDays(30);

    // A CA that issues already half-expired certificates must not be hammered in a tight loop.
    private static readonly TimeSpan MinRenewalDelay = TimeSpan.FromSeconds(1);

    private readonly IstioCertificateManager _owner;
    private readonly ResiliencePipeline _retry;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile IssuedCertificate? _current;
    private volatile string? _lastError;
    private Task _loop = Task.CompletedTask;

    public IdentityCertificate(IstioCertificateManager owner, SpiffeId id)
    {
        _owner = owner;
        Id = id;
        IstioCertificateManagerOptions options = owner.Options;
        _retry = new ResiliencePipelineBuilder { TimeProvider = owner.TimeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                MaxRetryAttempts = int.MaxValue,
                Delay = options.InitialRetryDelay,
                MaxDelay = options.MaxRetryDelay,

                // Every failure is retried (ztunnel does too): a dead renewal loop would silently expire the identity.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex
                    && !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
                OnRetry = args =>
                {
                    CertificateManagerLog.FetchFailed(owner.Logger, Id, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message ?? "");
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public SpiffeId Id { get; }

    public event EventHandler? Changed;

    public Task Ready => _ready.Task;

    public IssuedCertificate? Current => _current;

    public string? LastError => _lastError;

    public string State
    {
        get
        {
            IssuedCertificate? current = _current;
            if (current is not null && _owner.TimeProvider.GetUtcNow() < current.Svid.NotAfter)
            {
                return Available;
            }

            return _lastError is null ? Initializing : Unavailable;
        }
    }

    public Svid GetSvid()
    {
        IssuedCertificate? current = _current;
        DateTimeOffset now = _owner.TimeProvider.GetUtcNow();
        if (current is not null && now < current.Svid.NotAfter)
        {
            return current.Svid;
        }

        string why = _lastError ?? "the fetch is in progress";
        throw new IstioException(IstioErrorReason.CertificateUnavailable, current is null
            ? $"no certificate for {Id} yet: {why}"
            : $"the certificate for {Id} expired at {current.Svid.NotAfter:u} and was not renewed: {why}");
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    public Task StopAsync()
    {
        _stop.Cancel();
        if (_ready.TrySetException(new IstioException(IstioErrorReason.CertificateUnavailable, $"the certificate for {Id} is no longer managed")))
        {
            // Observed here so nobody waiting is required to see it.
            _ = _ready.Task.Exception;
        }

        return _loop;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                IssuedCertificate issued = await _retry.ExecuteAsync(static (self, ct) => self.FetchOnceAsync(ct), this, cancellationToken).ConfigureAwait(false);
                DateTimeOffset renewAt = RenewalTime(issued.Svid);
                Install(issued, renewAt);
                await WaitUntilAsync(renewAt, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async ValueTask<IssuedCertificate> FetchOnceAsync(CancellationToken cancellationToken)
    {
        await _owner.Fetches.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IssuedCertificate issued = await _owner.Issuer.IssueAsync(Id, cancellationToken).ConfigureAwait(false);
            return issued.Svid.Id == Id
                ? issued
                : throw new IstioException(IstioErrorReason.IdentityMismatch, $"the issuer returned a certificate for {issued.Svid.Id} when asked for {Id}");
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            _lastError = ex.Message;
            throw;
        }
        finally
        {
            _owner.Fetches.Release();
        }
    }

    private void Install(IssuedCertificate issued, DateTimeOffset renewAt)
    {
        // The previous SVID is not disposed: a handshake or live connection may still use it.
        _current = issued;
        _lastError = null;
        CertificateManagerLog.Installed(_owner.Logger, Id, issued.Svid.Certificate.SerialNumber, issued.Svid.NotAfter, renewAt);
        _owner.OnIssued(issued);
        _ready.TrySetResult();
        Changed?.Invoke(this, EventArgs.Empty);
    }

    // Half the lifetime, earlier by up to RenewalJitter of the lifetime so identities issued together do not renew together.
    private DateTimeOffset RenewalTime(Svid svid)
    {
        TimeSpan lifetime = svid.NotAfter - svid.NotBefore;
        TimeSpan jitter = lifetime * (_owner.Options.RenewalJitter * Random.Shared.NextDouble());
        DateTimeOffset renewAt = svid.NotBefore + (lifetime / 2) - jitter;
        DateTimeOffset earliest = _owner.TimeProvider.GetUtcNow() + MinRenewalDelay;
        return renewAt < earliest ? earliest : renewAt;
    }

    private async Task WaitUntilAsync(DateTimeOffset when, CancellationToken cancellationToken)
    {
        TimeSpan remaining;
        while ((remaining = when - _owner.TimeProvider.GetUtcNow()) > TimeSpan.Zero)
        {
            // Timers count whole milliseconds: rounding down would leave a sub-millisecond remainder and a busy loop.
            TimeSpan delay = TimeSpan.FromMilliseconds(Math.Ceiling(remaining.TotalMilliseconds));
            await Task.Delay(delay < MaxTimerDelay ? delay : MaxTimerDelay, _owner.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }
}
