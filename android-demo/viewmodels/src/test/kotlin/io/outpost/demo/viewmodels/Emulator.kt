package io.outpost.demo.viewmodels

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.net.HttpURLConnection
import java.net.URI
import java.net.URL
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/** A user of the emulator (from its start-up line). */
internal data class EmulatorUser(val upn: String, val password: String, val mfa: Boolean, val totpSecret: String)

/**
 * The real `outpost-emulator` binary in its own process on a free loopback port (Entra-shaped
 * sign-in pages and the Dataverse Web API over plain HTTP).
 */
internal class Emulator private constructor(private val process: Process, info: Map<String, Any?>) : AutoCloseable {
    val orgUrl = info["org_url"] as String
    val clientId = info["client_id"] as String
    val authority = info["authority"] as String
    private val control = info["control"] as String
    private val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(30)).build()

    @Suppress("UNCHECKED_CAST")
    val users: Map<String, EmulatorUser> = (info["users"] as List<Map<String, Any?>>).associate {
        val u = EmulatorUser(it["upn"] as String, it["password"] as String, it["mfa"] as Boolean, it["totp_secret"] as String)
        u.upn to u
    }

    /**
     * A control-API call (`/_emulator/...`); returns the parsed JSON answer, if any. Through
     * `java.net.http` (HttpURLConnection cannot send PATCH).
     */
    fun control(method: String, path: String, body: Map<String, Any?>? = null): Any? {
        val request = HttpRequest.newBuilder(URI(control + path))
            .timeout(Duration.ofSeconds(60))
            .header("content-type", "application/json")
            .method(method, body?.let { HttpRequest.BodyPublishers.ofString(Json.write(it)) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val answer = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(answer.statusCode() < 400) { "control $method $path: HTTP ${answer.statusCode()} ${answer.body()}" }
        return answer.body().takeIf { it.isNotBlank() }?.let(Json::parse)
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor(10, TimeUnit.SECONDS)
        }
    }

    companion object {
        fun start(rows: Int = 300): Emulator {
            val bin = System.getProperty("outpost.emulator") ?: error("set -Doutpost.emulator=<path of outpost-emulator>")
            check(File(bin).canExecute()) { "no emulator at $bin" }
            val p = ProcessBuilder(bin, "--port", "0", "--rows", rows.toString(), "--json")
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start()
            val out = BufferedReader(InputStreamReader(p.inputStream))
            val line = out.readLine() ?: run { p.destroyForcibly(); error("the emulator printed nothing") }
            // Keep draining its stdout so it can never block on a full pipe.
            thread(isDaemon = true, name = "emulator-stdout") { runCatching { while (true) out.readLine() ?: break } }
            @Suppress("UNCHECKED_CAST")
            return Emulator(p, Json.parse(line) as Map<String, Any?>)
        }
    }
}

/**
 * What the browser does in Custom Tabs, over plain HTTP: load the authorize URL, fill in the
 * emulator's Entra-shaped pages (username + password, then the TOTP code for MFA users, consent
 * if asked) and stop at the redirect to the app. Redirects are never followed automatically:
 * the authorization code comes from the `Location` of the final 302.
 */
internal object SignInPages {
    fun drive(authorizeUrl: String, user: EmulatorUser, redirectPrefix: String = AppSettings.DEFAULT_REDIRECT_URI): String {
        var url = authorizeUrl
        var answer = send(url, null)
        repeat(12) {
            if (answer.status in 301..303 || answer.status == 307) {
                val location = URI(url).resolve(answer.location ?: error("redirect without Location")).toString()
                if (location.startsWith(redirectPrefix)) return location
                url = location
                answer = send(url, null)
                return@repeat
            }
            check(answer.status == 200) { "HTTP ${answer.status} at $url: ${answer.body.take(300)}" }
            val page = answer.body
            val action = Regex("<form[^>]*action=\"([^\"]+)\"").find(page)?.groupValues?.get(1)?.let(::unescape)
                ?: error("no form on the page: ${page.take(300)}")
            val fields = Regex("<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"").findAll(page)
                .map { it.groupValues[1] to unescape(it.groupValues[2]) }.toMutableList()
            when {
                "id=\"i0116\"" in page -> { fields += "loginfmt" to user.upn; fields += "passwd" to user.password }
                "idTxtBx_SAOTCC_OTC" in page -> fields += "otc" to freshTotp(user.totpSecret)
                "idBtn_Accept" in page -> fields += "decision" to "accept"
                else -> error("unexpected page: ${page.take(500)}")
            }
            url = URI(url).resolve(action).toString()
            answer = send(url, fields)
        }
        error("too many pages")
    }

    /** A code with a few seconds of its 30-second step left, so it is still valid on arrival. */
    private fun freshTotp(secret: String): String {
        val intoStep = System.currentTimeMillis() % 30_000
        if (intoStep > 26_000) Thread.sleep(30_000 - intoStep + 250)
        return Totp.code(secret)
    }

    private class Answer(val status: Int, val location: String?, val body: String)

    private fun send(url: String, form: List<Pair<String, String>>?): Answer {
        val c = URL(url).openConnection() as HttpURLConnection
        c.instanceFollowRedirects = false
        c.connectTimeout = 30_000
        c.readTimeout = 60_000
        if (form != null) {
            c.requestMethod = "POST"
            c.doOutput = true
            c.setRequestProperty("content-type", "application/x-www-form-urlencoded")
            val body = form.joinToString("&") { (k, v) -> enc(k) + "=" + enc(v) }
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val text = (if (status >= 400) c.errorStream else c.inputStream)?.use { it.readBytes().decodeToString() }.orEmpty()
        return Answer(status, c.getHeaderField("Location"), text)
    }

    private fun enc(s: String) = URLEncoder.encode(s, Charsets.UTF_8)

    private fun unescape(s: String) = s
        .replace(Regex("&#x([0-9a-fA-F]+);")) { it.groupValues[1].toInt(16).toChar().toString() }
        .replace(Regex("&#([0-9]+);")) { it.groupValues[1].toInt().toChar().toString() }
        .replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}
