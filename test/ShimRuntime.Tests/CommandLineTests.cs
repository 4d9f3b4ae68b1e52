namespace Csshim.Tests;

/// <summary>csshim's own commands (--version, features, --log) and what it forwards unchanged.</summary>
[PerRuntime]
public class CommandLineTests(string runtime) : IntegrationFixture(runtime)
{
    [Test]
    public void UnknownSubcommand_FailsLikeTheRuntime()
    {
        var d = Direct().Run("no-such-subcommand");
        var s = Shim().Run("no-such-subcommand");
        Assert.That(d.ExitCode, Is.Not.Zero, $"the runtime itself accepted it: {d}");
        AssertSameOutcome("an unknown subcommand", d, "", s, "");
    }

    /// <summary>A config written for runsc (runtimeArgs --network=none) must not break a call that names another
    /// runtime: runc refuses --network.</summary>
    [Test]
    public void ConfigRuntimeArgs_GoOnlyToTheConfiguredRuntime()
    {
        var config = Path.Combine(Directory.CreateTempSubdirectory("csshim-config-").FullName, "config.json");
        File.WriteAllText(config, """{"runtime": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}""");
        try
        {
            var shim = ProcessRunner.Run(CsshimBinary.Require(), new[] { "--shim-config", config, "--shim-runtime", Runtime.Path, "--version" });
            AssertSucceeded(shim, "csshim --version with a runsc config");
            Assert.That(shim.Stdout, Does.Contain($"runtime: {Runtime.Path}"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }

    [Test]
    public void Version_PrintsCsshimsVersionThenTheRuntimes()
    {
        var runtime = ProcessRunner.Run(Runtime.Path, new[] { "--version" });
        AssertSucceeded(runtime, "runtime --version");
        var shim = ProcessRunner.Run(CsshimBinary.Require(), new[] { "--shim-runtime", Runtime.Path, "--version" });
        AssertSucceeded(shim, "csshim --version");
        var firstLine = shim.Stdout.Split('\n')[0];
        Assert.Multiple(() =>
        {
            Assert.That(firstLine, Does.Match(@"^csshim version \d+\.\d+\.\d+"), $"first line: {shim}");
            var at = shim.Stdout.IndexOf(runtime.Stdout.TrimEnd(), StringComparison.Ordinal);
            Assert.That(at, Is.GreaterThan(firstLine.Length), $"the runtime's own --version after csshim's line\nruntime: {runtime}\ncsshim: {shim}");
        });
    }

    [Test]
    public void Features_PrintsOciVersionRange_EvenWhenTheRuntimeHasNoFeatures()
    {
        var shim = Shim().Run("features");
        AssertSucceeded(shim, "csshim features");
        var features = JObject.Parse(shim.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That((string?)features["ociVersionMin"], Does.Match(@"^1\.\d+\.\d+"), shim.Stdout);
            Assert.That((string?)features["ociVersionMax"], Does.Match(@"^1\.\d+\.\d+"), shim.Stdout);
        });
        var own = Direct().Run("features");
        if (own.ExitCode == 0)
        {
            // A runtime that answers itself: csshim must not claim a wider OCI range than it.
            var runtimeFeatures = JObject.Parse(own.Stdout);
            Assert.That((string?)features["ociVersionMax"], Is.EqualTo((string?)runtimeFeatures["ociVersionMax"]),
                $"runtime: {own.Stdout}\ncsshim: {shim.Stdout}");
        }
    }

    [Test]
    public void Log_JsonFormat_AppendsAnErrorLine_WhenTheRootfsIsMissing()
    {
        var shim = Shim();
        var bundle = NewBundle("norootfs", "true");
        Directory.Delete(bundle.Rootfs, recursive: true);
        var log = Path.Combine(TempDir, "log.json");
        const string earlier = "{\"level\":\"info\",\"msg\":\"earlier line\",\"time\":\"2026-01-01T00:00:00Z\"}\n";
        File.WriteAllText(log, earlier);
        var id = NewId(shim, "nolower");

        var r = shim.RunWithGlobals(new[] { "--log", log, "--log-format", "json" }, "create", "--bundle", bundle.Dir, id);

        Assert.That(r.ExitCode, Is.Not.Zero, $"create without a rootfs succeeded: {r}");
        var text = File.ReadAllText(log);
        Assert.That(text, Does.StartWith(earlier), $"the log was not appended to:\n{text}");
        var lines = text[earlier.Length..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Select(ParseJsonLine).Where(j => (string?)j["level"] == "error").ToList();
        Assert.That(errors, Is.Not.Empty, $"no \"level\":\"error\" line; log:\n{text}\ncsshim: {r}");
        var last = errors[^1];
        Assert.Multiple(() =>
        {
            Assert.That((string?)last["msg"], Is.Not.Null.And.Not.Empty, last.ToString());
            Assert.That(DateTimeOffset.TryParse((string?)last["time"], out _), Is.True, $"time: {last}");
            Assert.That(r.Stderr, Is.Not.Empty, "the reason on stderr as well");
        });
    }

    private static JObject ParseJsonLine(string line)
    {
        try { return JObject.Parse(line); }
        catch (Newtonsoft.Json.JsonException e) { Assert.Fail($"log line is not JSON ({e.Message}): {line}"); throw; }
    }
}
