namespace Csshim.Reliability.Tests;

/// <summary>A restored upper can hold anything the archive's author put there (setuid binaries, device-free but
/// private data): it must be reachable by root only, on a nosuid,nodev tmpfs.</summary>
[TestFixture]
public class PrivacyTests : SandboxFixture
{
    private const string SecretText = "secret upper content";

    [TestCase("runc", false), TestCase("runsc-2022", false), TestCase("runsc-2024", false), TestCase("runc", true)]
    public void Staging_is_private_to_root(string runtime, bool stateDirPreexists)
    {
        var rt = Runtimes.Named(runtime);
        if (stateDirPreexists)
        {
            // An operator-made state dir that anyone may list: csshim's own levels below it must still be closed.
            Directory.CreateDirectory(sb.StateDir);
            File.SetUnixFileMode(sb.StateDir, (UnixFileMode)0b111_101_101);
        }
        var archive = sb.Archive("secret", Sandbox.Text("dir/file", SecretText));
        var bundle = sb.Bundle("p", ["sleep", "1000"], ArchivePolicyTests.Annotated(archive));
        var id = sb.Track(rt, "private");
        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"]);
        Assert.That(create.Status, Is.Zero, create.ToString());
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);

        var staging = sb.StagingOf(id);
        var layer = Path.Combine(staging, "layer");
        // Restored into the upper (copy), or into the layer cache's entry the staging stacks (layer).
        var cached = (string?)Newtonsoft.Json.Linq.JObject.Parse(File.ReadAllText(Path.Combine(staging, "state.json")))["layer"];
        var secret = cached is null ? Path.Combine(layer, "upper", "dir", "file") : Path.Combine(cached, "dir", "file");
        Assert.That(File.ReadAllText(secret), Is.EqualTo(SecretText), "root reads the restored files (the positive control)");
        Assert.Multiple(() =>
        {
            if (!stateDirPreexists) AssertMode(sb.StateDir, 0b111_000_000);
            AssertMode(Path.GetDirectoryName(staging)!, 0b111_000_000);
            AssertMode(staging, 0b111_000_000);
            AssertMode(layer, 0b111_000_000);
            if (cached is not null)
            {
                AssertMode(sb.CacheDir, 0b111_000_000);
                AssertMode(Path.GetDirectoryName(cached)!, 0b111_000_000);
            }
            var options = HostState.MountOptions(layer);
            Assert.That(options, Does.Contain("nosuid").And.Contain("nodev"), $"tmpfs mount options of {layer}");
            Assert.That(options, Does.Contain("mode=700"), $"tmpfs mount options of {layer}");
        });

        // The attempts of an unprivileged host user, each of which must fail.
        var nobody = new[] { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" };
        Assert.Multiple(() =>
        {
            List<string[]> attempts =
            [
                ["/bin/ls", Path.GetDirectoryName(staging)!],
                ["/bin/ls", staging],
                ["/bin/ls", Path.Combine(layer, "upper")],
                ["/bin/cat", secret],
                ["/bin/ls", Path.Combine(staging, "merged")],
                ["/bin/cat", Path.Combine(staging, "state.json")],
                ["/bin/ls", sb.CacheDir],
            ];
            if (cached is not null) attempts.Add(["/bin/ls", cached]);
            foreach (var attempt in attempts)
            {
                var r = Proc.Run(nobody[0], [.. nobody[1..], .. attempt], sb.Logs);
                Assert.That(r.Status, Is.Not.Zero, $"nobody could run {string.Join(' ', attempt)}: {r.Stdout}");
                Assert.That(r.Stdout, Does.Not.Contain(SecretText));
            }
            // The sandbox dir itself is open to nobody, so the refusals above are csshim's modes at work.
            Assert.That(Proc.Run(nobody[0], [.. nobody[1..], "/bin/ls", sb.Dir], sb.Logs).Status, Is.Zero, "nobody cannot even reach the sandbox");
        });
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after delete");
    }

    private static void AssertMode(string path, int mode) =>
        Assert.That((int)File.GetUnixFileMode(path), Is.EqualTo(mode), $"mode of {path} is {Convert.ToString((int)File.GetUnixFileMode(path), 8)}");
}
