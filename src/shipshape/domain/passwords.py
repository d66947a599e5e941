"""The member password policy: long enough, not a common password, not containing the username.

Passwords are hashed elsewhere (`shipshape.auth.passwords`); this module only decides whether one is acceptable,
and its refusals never repeat the password.
"""

from __future__ import annotations

from shipshape.domain.errors import PasswordRejected

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing cost grows with length; nobody types more

# A few hundred of the most used passwords and their base words, from public breach-corpus rankings, lower-cased.
# Most are shorter than the minimum on their own; they matter once digits and symbols are added ("password1234!").
_COMMON_TEXT = """
123456 123456789 12345678 12345 1234567 1234567890 123123 111111 000000 654321 666666 121212 112233 123321
987654321 1234 12345678910 123456789012 1234567890123 11111111 00000000 88888888 12341234 147258369 159753
7777777 555555 999999 131313 123654 789456123 987654 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx 1qazxsw2
zaq12wsx zaq1zaq1 qwerty qwertyuiop qwertyuiopasdfghjkl qwerty123 qwerty1 qwertz azerty asdfgh asdfghjkl asdf
zxcvbn zxcvbnm qazwsx qweasd qweasdzxc q1w2e3r4 a1b2c3 abc123 abcd1234 abcdef abcdefg abcdefgh aa123456
password passw0rd p4ssw0rd p@ssw0rd pass password1 passwort motdepasse contrasena senha wachtwoord salasana
haslo parola passpass secret secrets letmein letmeinnow welcome welcome1 hello hello123 hellothere iloveyou
iloveu loveyou lovely love lover loveme trustno1 whatever nothing something anything changeme default
admin administrator root toor adminadmin user guest test tester testing demo temp temppass master access
login login123 logmein system server manager support service super superman batman spiderman ironman
starwars startrek dragon monkey shadow sunshine princess football baseball basketball soccer hockey golf
tennis jordan jordan23 michael michelle jennifer jessica ashley amanda daniel thomas robert charlie andrew
matthew joshua william anthony hunter ranger buster tigger pepper ginger cookie cheese chicken summer winter
spring autumn freedom flower flowers purple orange yellow silver golden diamond angel angels baby babygirl
sweety sweetheart sweetie honey cupcake butterfly mustang ferrari corvette porsche mercedes harley yamaha
computer internet google facebook youtube twitter linkedin microsoft windows apple samsung nokia iphone
pokemon pikachu naruto minecraft fortnite roblox matrix killer hacker qwerty12 asshole fuckyou fuckoff
biteme blowjob sexy pussy hottie playboy bigdick money money1 dollar fishing hunting cowboy cowboys
yankees lakers eagles steelers packers chelsea arsenal liverpool barcelona realmadrid juventus
superstar rockstar london paris berlin newyork america canada mexico brazil india china russia
jesus christ god blessed heaven faith hope peace happy smile friends friend family mother father sister
brother banana apple123 orange1 chocolate coffee pizza pizza123 beer vodka whiskey tequila
maggie bailey buddy max molly lucky sparky snoopy rocky rocket garfield scooby shelby taylor hannah
nicole daniela sophie olivia emma liam noah lucas oliver george harry hermione voldemort gandalf
merlin wizard magic mystery phoenix falcon eagle tiger lion wolf bear panther dolphin monster zombie
ninja samurai warrior knight legend legends hero heroes champion winner victory qwert zxcvb
abcabc aaaaaa aaaaaaaa zzzzzz qqqqqq 1111 2222 0000 6969 696969 4200 asdasd asdqwe qweqwe
welcome123 admin123 root123 test123 pass123 pass1234 password123 letmein123 secret123 changeme123
iloveyou1 qwerty1234 abc12345 123abc 123qwe 1q2w3e qwe123 zxc123 asd123 q1w2e3 a1s2d3f4
mypassword mypass yourpassword newpassword oldpassword nopassword passwordpassword thisismypassword
correcthorsebatterystaple opensesame letmeinplease donotuse unknown private public shipshape docker
registry kubernetes container podman devops jenkins gitlab github ubuntu debian linux
"""
COMMON_PASSWORDS = frozenset(_COMMON_TEXT.split())


def _strip_decoration(password: str) -> str:
    """`password` without the digits and symbols at its end (`password1234!` → `password`)."""
    end = len(password)
    while end and not password[end - 1].isalpha():
        end -= 1
    return password[:end]


def is_common(password: str) -> bool:
    """Whether `password`, or `password` with digits and symbols stripped from its end, is a common password."""
    lowered = password.lower()
    return lowered in COMMON_PASSWORDS or _strip_decoration(lowered) in COMMON_PASSWORDS


def check_password(password: str, username: str) -> None:
    """Raise `PasswordRejected`, saying what to do instead, unless `password` meets the policy for `username`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(
            f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
            " (three or four unrelated words make a good one)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"password is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    if is_common(password):
        raise PasswordRejected(
            "password is too common (a well-known password, perhaps with digits or symbols added):"
            " choose one nobody else would, such as three or four unrelated words"
        )
    if username and username.lower() in password.lower():
        raise PasswordRejected("password contains the username: choose one that does not")
