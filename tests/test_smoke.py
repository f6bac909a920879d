def test_login_page_shows_swedish_labels(client, db):
    response = client.get("/logga-in/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "E-postadress" in body and "Lösenord" in body and "Logga in" in body
