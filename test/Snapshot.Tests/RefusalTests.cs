namespace Csshim.Snapshot.Tests;

/// <summary>
/// Archives csshim must refuse, and how: a non-zero exit with the reason on stderr and as an error line in the
/// caller's `--log F --log-format json` file (what containerd and Docker show), and nothing left behind — no
/// mount, no container, no staging, the bundle's config.json byte-identical. Every call has a timeout so an
/// archive path that could block (a FIFO) fails the test instead of hanging it.
/// </summary>
[PerRuntimeAndMode]
public class RefusalTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public enum Case { NoAllowFlag, ReadonlyRoot, Missing, Directory, Fifo, WorldWritable, NotRootOwned, NotATar }

    private static readonly (Case Refusal, string Reason)[] Reasons =
    {
        (Case.NoAllowFlag, "rootfs tar annotation is disabled, use --allow-rootfs-tar-annotation to enable it"),
        (Case.ReadonlyRoot, "rootfs tar upper path is set but rootfs is readonly"),
        (Case.Missing, "No such file"),
        (Case.Directory, "is not a regular file"),
        (Case.Fifo, "is not a regular file"),
        (Case.WorldWritable, "writable by group or others"),
        (Case.NotRootOwned, "not root"),
        (Case.NotATar, "not a tar archive"),
    };

    /// <summary>Every refusal through `create` (containerd, Docker, podman) and a foreground `run`.</summary>
    public static IEnumerable<TestCaseData> Refusals() =>
        from r in Reasons from verb in new[] { "create", "run" } select new TestCaseData(r.Refusal, r.Reason, verb);

    [TestCaseSource(nameof(Refusals))]
    public void RefusedArchive_FailsCleanly(Case refusal, string reason, string verb)
    {
        var archive = Prepare(refusal);
        var bundle = Bundle("echo should-not-run", (UpperKey, archive));
        if (refusal == Case.ReadonlyRoot) bundle.Root["readonly"] = true;
        bundle.Save();
        var original = File.ReadAllBytes(bundle.ConfigPath);
        var log = Path.Combine(TempDir, "log.json");
        var id = NewId(Cli, "refused");
        var globals = new List<string> { "--log", log, "--log-format", "json" };
        if (refusal != Case.NoAllowFlag) globals.Add(AllowFlag);

        var r = ProcessRunner.Run(Cli.Exe, Cli.ArgsWithGlobals(globals, new[] { verb, "--bundle", bundle.Dir, id }), Timeout);

        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
            Assert.That(r.Stderr, Does.Contain(reason), "stderr");
            Assert.That(LogErrors(log), Has.Some.Contains(reason), $"error lines of {log}");
            Assert.That(CsshimMounts(), Is.Empty, "mounts after the refusal");
            Assert.That(StagedContainers(Cli), Is.Empty, "staging after the refusal");
            Assert.That(Direct().Run("state", id).ExitCode, Is.Not.Zero, "the runtime has a container after the refusal");
            Assert.That(File.ReadAllBytes(bundle.ConfigPath), Is.EqualTo(original), "config.json after the refusal");
        });
    }

    /// <summary>The archive path for a case; the runtime's root is the one a container would use.</summary>
    private string Prepare(Case refusal)
    {
        var path = SnapshotPath("refused-" + refusal);
        switch (refusal)
        {
            case Case.Missing:
                break;
            case Case.Directory:
                System.IO.Directory.CreateDirectory(path);
                break;
            case Case.Fifo:
                AssertSucceeded(ProcessRunner.Run("/usr/bin/mkfifo", new[] { path }), "mkfifo");
                break;
            case Case.WorldWritable:
                new RunscStyleArchive().File("./x", "x\n").WriteTo(path);
                File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
                break;
            case Case.NotRootOwned:
                new RunscStyleArchive().File("./x", "x\n").WriteTo(path);
                AssertSucceeded(ProcessRunner.Run("/bin/chown", new[] { "1000:1000", path }), "chown");
                break;
            case Case.NotATar:
                File.WriteAllText(path, "this is not a tar archive, not even a short one; it has to fill a block." + new string('!', 600));
                File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
                break;
            default:
                new RunscStyleArchive().File("./x", "x\n").WriteTo(path);
                break;
        }
        return path;
    }

    /// <summary>The msg of every "level":"error" line of a logrus JSON log.</summary>
    private static List<string> LogErrors(string log)
    {
        if (!File.Exists(log)) return new List<string>();
        return File.ReadAllLines(log).Where(l => l.TrimStart().StartsWith('{'))
            .Select(JObject.Parse).Where(o => (string?)o["level"] == "error").Select(o => (string?)o["msg"] ?? "").ToList();
    }
}
