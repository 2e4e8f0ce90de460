// HttpGet: one plain HTTP/1.0 GET over a POSIX TCP socket, for end-to-end tests that scrape the
// server's /metrics endpoint without an HTTP client dependency. Reads until the server closes the
// connection (HTTP/1.0: one request per connection). IPv4 hosts only. Header-only; thread-safe
// (no shared state).
#ifndef TERNSERVE_TESTS_TESTING_HTTP_GET_H_
#define TERNSERVE_TESTS_TESTING_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace ternserve::testing {

// The body of `GET path` from host:port. UNAVAILABLE if the connection fails or times out
// (`timeout` applies to each send and receive); INTERNAL for a status other than 200.
inline absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                           const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10)) {
  const std::string where = absl::StrCat("http://", host, ":", port, path);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(host, " is not an IPv4 address"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat(where, ": ", what, ": ", reason));
  };
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail("connect");
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host, ":", port,
                                           "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return fail("send");
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[16384];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) return fail("recv");
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);

  // "HTTP/1.x 200 OK\r\n" headers "\r\n\r\n" body
  const size_t header_end = response.find("\r\n\r\n");
  const size_t space = response.find(' ');
  int status = 0;
  if (header_end == std::string::npos || space == std::string::npos ||
      !absl::SimpleAtoi(response.substr(space + 1, 3), &status)) {
    return absl::InternalError(absl::StrCat(where, ": malformed HTTP response"));
  }
  if (status != 200) {
    return absl::InternalError(absl::StrCat(where, ": HTTP ", status));
  }
  return response.substr(header_end + 4);
}

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_HTTP_GET_H_
