using Microsoft.Extensions.Options;

namespace Hbone;

/// <summary>
/// Turns an options class's own <c>Validate()</c> (which throws) into an options validation result, so a bad
/// value fails the host at start with an <see cref="OptionsValidationException"/> naming the option.
/// </summary>
/// <typeparam name="TOptions">The options class.</typeparam>
public sealed class HboneOptionsValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : class
{
    private readonly Action<TOptions> _validate;

    /// <summary>Creates a validator that calls <paramref name="validate"/>.</summary>
    public HboneOptionsValidator(Action<TOptions> validate)
    {
        ArgumentNullException.ThrowIfNull(validate);
        _validate = validate;
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        try
        {
            _validate(options);
            return ValidateOptionsResult.Success;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return ValidateOptionsResult.Fail($"{typeof(TOptions).Name}: {ex.Message}");
        }
    }
}
